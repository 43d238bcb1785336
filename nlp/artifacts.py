"""A model version on disk: what it holds, how it is written, how it is checked.

    config.json       architecture, tokeniser settings and training recipe (nlp.model_config)
    vocabulary.json   tokens, most frequent first
    weights.npz       weights by role (nlp.model_weights.expected_shapes; nlp.ngrams for n-grams)
    metrics.json      test accuracy, data hash, timings, history
    manifest.json     sha256 of every file above; written last, so its presence means complete

A directory without a valid manifest is half-written or tampered with and is refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from nlp.model_config import MemberConfig, member_config_from_dict
from nlp.vocabulary import Vocabulary

CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.json"
WEIGHTS_FILE = "weights.npz"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
CONTENT_FILES = (CONFIG_FILE, VOCABULARY_FILE, WEIGHTS_FILE, METRICS_FILE)
ENSEMBLE_FILE = "ensemble.json"
MEMBERS_DIR = "members"
ENSEMBLE_FILES = (ENSEMBLE_FILE, METRICS_FILE)


class ModelLoadError(Exception):
    """A model directory that cannot be served; the message says what is wrong with it."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_model_dir(
    directory: Path,
    config: MemberConfig,
    vocabulary: Vocabulary,
    weights: dict[str, np.ndarray],
    metrics: dict[str, Any],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / CONFIG_FILE, config.to_dict())
    vocabulary.save(directory / VOCABULARY_FILE)
    np.savez(directory / WEIGHTS_FILE, **weights)  # type: ignore[arg-type]  # numpy's stub
    _write_json(directory / METRICS_FILE, metrics)
    manifest = {name: sha256_of(directory / name) for name in CONTENT_FILES}
    _write_json(directory / MANIFEST_FILE, {"files": manifest})


def write_ensemble_dir(
    directory: Path, config: dict[str, Any], member_count: int, metrics: dict[str, Any]
) -> None:
    """The top of an ensemble version; its members (members/<i>/) are written before."""
    for index in range(member_count):
        verify_model_dir(directory / MEMBERS_DIR / str(index))
    _write_json(directory / ENSEMBLE_FILE, config)
    _write_json(directory / METRICS_FILE, metrics)
    manifest = {name: sha256_of(directory / name) for name in ENSEMBLE_FILES}
    _write_json(directory / MANIFEST_FILE, {"files": manifest, "members": member_count})


def verify_model_dir(directory: Path) -> None:
    """Refuse a version that is missing, half-written or altered; an ensemble is checked
    member by member."""
    if not directory.is_dir():
        raise ModelLoadError(f"model directory {directory} does not exist")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelLoadError(
            f"model directory {directory} is incomplete: no {MANIFEST_FILE} "
            "(a training run that did not finish?)"
        )
    manifest = read_json(manifest_path)
    ensemble = (directory / ENSEMBLE_FILE).is_file() or "members" in manifest
    _check_files(
        directory, manifest.get("files", {}), ENSEMBLE_FILES if ensemble else CONTENT_FILES
    )
    if ensemble:
        for index in range(int(manifest.get("members", 0))):
            verify_model_dir(directory / MEMBERS_DIR / str(index))


def _check_files(directory: Path, checksums: dict[str, str], required: tuple[str, ...]) -> None:
    for name in required:
        path = directory / name
        if name not in checksums or not path.is_file():
            raise ModelLoadError(f"model directory {directory} is incomplete: {name} is missing")
        if sha256_of(path) != checksums[name]:
            raise ModelLoadError(
                f"model directory {directory} is corrupt: {name} fails its checksum"
            )


def read_model_dir(
    directory: Path,
) -> tuple[MemberConfig, Vocabulary, dict[str, np.ndarray], dict[str, Any]]:
    verify_model_dir(directory)
    try:
        config = member_config_from_dict(read_json(directory / CONFIG_FILE))
        vocabulary = Vocabulary.load(directory / VOCABULARY_FILE)
        with np.load(directory / WEIGHTS_FILE) as archive:
            weights = {name: archive[name] for name in archive.files}
        metrics = read_json(directory / METRICS_FILE)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelLoadError(f"model directory {directory} cannot be read: {error}") from error
    return config, vocabulary, weights, metrics


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path} cannot be read: {error}") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} does not hold a JSON object")
    return data


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
