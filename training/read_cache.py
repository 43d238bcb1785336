"""What a model reads and says of a fixed list of texts, kept between retrains.

Every retrain of a served student reads the same 8,000 transfer texts (the replayed
NSMC reviews and the chat sample) with the same teacher, and takes the same verdicts of
it before any fine-tune: 12 of a twenty-correction retrain's ~80 s went to that alone
(Kiwi's analyses most of all; docs/learning-loop.md, "Read once, kept"). The gate's
NSMC reviews are read by every candidate, which reads as its base does. Kept on disk, the
next retrain loads them in about a second.

Readings (tokens, ids, n-gram features) are Python objects, so they are pickled; the file
lives in the user's own cache directory, written by this code alone. Its name holds how
the model reads (its members' configurations and vocabularies, which every fine-tune of
it keeps) and a digest of the texts and of the code that reads (the `nlp` package's
source but its Keras network, and the tokenisers' package versions): a change of any of
them reads again, and a file that is damaged or of the wrong size is read again.
Verdicts depend on the weights: they are arrays named by a digest of them
(training.array_cache). Only the files used last are kept (`READINGS_KEPT`,
`POSITIVES_KEPT`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from nlp.ensemble import Member, Readings, Servable, members_of_model, readings_of_members
from training.array_cache import cached_array, kept_aside

# A student's retrain reads four lists (its teacher's replay and chat, its own transfer
# set, the gate's NSMC reviews) and keeps five verdicts (its teacher's, each teacher
# network's and its own): 6-42 MB and 16-64 kB a file.
READINGS_KEPT = 6
POSITIVES_KEPT = 16
READERS = ("kiwipiepy", "kiwipiepy-model", "python-mecab-ko")  # packages that tokenise
_NLP = Path(__file__).resolve().parent.parent / "nlp"
NOT_READING = ("model.py",)  # the Keras network: it trains, it never reads a text


@dataclass(frozen=True)
class ReadCache:
    """Readings and verdicts under `directory`; None keeps nothing (everything computed)."""

    directory: Path | None

    def readings(self, model: Servable, texts: Sequence[str]) -> Readings:
        """`model.encode_many(texts)`, read from disk when a model that reads as `model`
        does read these texts before: `model` itself, its base, or another fine-tune of
        that base (a fine-tune changes weights, never how a model reads)."""
        if self.directory is None:
            return model.encode_many(list(texts))
        name = f"{model.config.name}-{_reader(model)}-{_digest(texts)}.pickle"
        path = self.directory / "readings" / name
        stored = _load(path, model, len(texts))
        if stored is not None:
            return stored
        readings = model.encode_many(list(texts))
        if kept_aside(path, lambda file: pickle.dump(readings, file, pickle.HIGHEST_PROTOCOL)):
            _used(path, READINGS_KEPT)
        return readings

    def positives(
        self,
        model: Member | Servable,
        texts: Sequence[str],
        compute: Callable[[], np.ndarray],
    ) -> np.ndarray:
        """`compute()`, `model`'s P(positive) of each of `texts`, kept for this model:
        named by its weights' digest, so a version name used again (a registry restored
        from a backup, say) cannot give another model's verdicts."""
        if self.directory is None:
            return compute()
        name = f"{model.config.name}-{_weights_digest(model)}-{_digest(texts)}.npy"
        path = self.directory / "positives" / name
        positives = cached_array(path, len(texts), compute)
        _used(path, POSITIVES_KEPT)
        return positives


NO_CACHE = ReadCache(None)


def _load(path: Path, model: Servable, length: int) -> Readings | None:
    """The readings at `path` if they are `model`'s kind and hold `length` texts."""
    try:
        stored = pickle.loads(path.read_bytes())
        parts = readings_of_members(stored)
        fits = len(parts) == len(members_of_model(model)) and all(
            len(part.messages) == length for part in parts
        )
    except Exception:  # none, damaged, or of classes since changed: read again
        return None
    if not fits:
        return None
    _used(path, READINGS_KEPT)
    return stored  # type: ignore[no-any-return]


def _used(path: Path, kept: int) -> None:
    """Marks `path` as just used and removes all but the `kept` files used last beside it:
    upkeep only, so a file removed meanwhile by another run, or a folder that cannot be
    written, leaves things as they are."""
    now = time.time_ns()  # not the file system's clock, which may tick once in 4 ms
    with contextlib.suppress(OSError):
        os.utime(path, ns=(now, now))
        files = sorted(
            (entry for entry in path.parent.iterdir() if not entry.name.startswith(".")),
            key=lambda entry: entry.stat().st_mtime_ns,
            reverse=True,
        )
        for stale in files[kept:]:
            stale.unlink(missing_ok=True)


def _reader(model: Servable) -> str:
    """How `model` reads: each member's configuration and vocabulary, which a fine-tune
    keeps (training.focus), so that an ensemble served after an accepted retrain still
    finds its base's readings of the replay and of the gate's NSMC reviews."""
    digest = hashlib.sha256()
    for member in members_of_model(model):
        digest.update(json.dumps(member.config.to_dict(), sort_keys=True).encode() + b"\0")
        digest.update("\n".join(member.vocabulary.tokens).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def _weights_digest(model: Member | Servable) -> str:
    """Every member's weights and the configuration (an ensemble's member weights and
    bias are in it): 0.1 s for an ensemble's 48 MB."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for member in members_of_model(model):
        for name, array in sorted(member.weights.items()):
            digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:16]


def _digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256(_readers_digest().encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:16]


@cache
def _readers_digest() -> str:
    """What reading depends on besides the model's files: the code and the tokenisers."""
    digest = hashlib.sha256()
    for source in sorted(_NLP.glob("*.py")):
        if source.name in NOT_READING:
            continue
        digest.update(source.name.encode() + source.read_bytes())
    for package in READERS:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing".encode())
    return digest.hexdigest()
