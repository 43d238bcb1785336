"""What a wider student would cost a live trace: the 25-word trace of student-shaped
networks of several cells and sizes, side by side (docs/results.md, "A GRU of 256 units").

    PYTHONPATH=. python docs/experiments/trace_by_size.py STUDENT_VERSION_DIR [VERSION_DIR ...]

The first version gives the vocabulary and tokeniser; beside the versions named, networks
of each of `SHAPES` are built in a temporary registry with random weights (a trace's time
does not depend on the weights' values). Every model is timed in four alternating rounds
of 1,500 traces, so a busy minute of the machine falls on all of them; the line per model
is the median of the rounds' p50, whole trace and recurrent layer alone. Run it on an
idle machine.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import MESSAGE_25_WORDS, percentiles_ms, time_calls
from nlp.artifacts import CONTENT_FILES, MANIFEST_FILE, sha256_of
from nlp.ensemble import load_model
from nlp.inference import SentimentModel

SHAPES = (("lstm", 192), ("gru", 224), ("lstm", 224), ("gru", 256), ("lstm", 256))
ROUNDS, REPEATS = 4, 1500


def random_variant(source: Path, cell: str, units: int, folder: Path) -> Path:
    """A copy of ``source`` whose network is a random ``cell`` of ``units``: same vocabulary,
    tokeniser and embedding width; the manifest rewritten so the version loads."""
    target = folder / f"{cell}-{units}"
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    config.update(cell=cell, units=units)
    (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    gates = (4 if cell == "lstm" else 3) * units
    rng = np.random.default_rng(0)
    weights = {
        "embedding": rng.normal(0, 0.1, (config["vocab_size"], config["embedding_dim"])),
        "kernel": rng.normal(0, 0.05, (config["embedding_dim"], gates)),
        "recurrent_kernel": rng.normal(0, 0.05, (units, gates)),
        "bias": np.zeros(gates if cell == "lstm" else (2, gates)),  # Keras' GRU has two
        "dense_kernel": rng.normal(0, 0.05, (2 * units, 2)),
        "dense_bias": np.zeros(2),
    }
    arrays: dict[str, Any] = {name: array.astype(np.float32) for name, array in weights.items()}
    np.savez(target / "weights.npz", **arrays)
    manifest = {"files": {name: sha256_of(target / name) for name in CONTENT_FILES}}
    (target / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return target


def timings(model: SentimentModel) -> tuple[float, float]:
    """p50 ms of one round: the whole trace, and the recurrent layer on its ids alone."""
    ids = np.array([model.encode_many([MESSAGE_25_WORDS]).messages[0].ids])
    lengths = np.array([ids.shape[1]])
    model.trace(MESSAGE_25_WORDS)
    whole = percentiles_ms(time_calls(lambda: model.trace(MESSAGE_25_WORDS), repeats=REPEATS))
    network = percentiles_ms(
        time_calls(lambda: model._recurrent.states(ids, lengths), repeats=REPEATS)
    )
    return whole[0], network[0]


def main(versions: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        dirs = versions + [random_variant(versions[0], c, u, Path(folder)) for c, u in SHAPES]
        models = {path.name: load_model(path) for path in dirs}
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
        for _ in range(ROUNDS):
            for name, model in models.items():
                assert isinstance(model, SentimentModel), f"{name} is not one network"
                rounds[name].append(timings(model))
    for name, figures in rounds.items():
        whole = statistics.median(figure[0] for figure in figures)
        network = statistics.median(figure[1] for figure in figures)
        print(f"{name}: trace p50 {whole:.2f} ms, of which the recurrent layer {network:.2f} ms")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
