"""What a wider student would cost a live trace: the 25-word trace of student-shaped
networks of several cells and sizes, side by side (docs/results.md, "A GRU of 256 units").

    PYTHONPATH=. python docs/experiments/trace_by_size.py STUDENT_VERSION_DIR [VERSION_DIR ...]

The first version gives the vocabulary and tokeniser; beside the versions named, networks
of each of `SHAPES` are written to a temporary folder with random weights (a trace's time
does not depend on the weights' values). Every model is timed in four alternating rounds
of 1,500 traces, so a busy minute of the machine falls on all of them; the line per model
is the median of the rounds' p50, whole trace and recurrent layer alone. Run it on an
idle machine.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import MESSAGE_25_WORDS, percentiles_ms, time_calls
from nlp.artifacts import write_model_dir
from nlp.ensemble import load_model
from nlp.inference import SentimentModel
from nlp.model_weights import expected_shapes

SHAPES = (("lstm", 192), ("gru", 224), ("lstm", 224), ("gru", 256), ("lstm", 256))
ROUNDS, REPEATS = 4, 1500


def random_variant(source: SentimentModel, cell: str, units: int, folder: Path) -> Path:
    """A version of ``source``'s vocabulary and tokeniser whose network is a random ``cell``
    of ``units``, written as training writes one (so it loads and verifies like any)."""
    config = source.config.with_overrides(cell=cell, units=units)
    rng = np.random.default_rng(0)
    weights = {
        name: rng.normal(0, 0.05, shape).astype(np.float32)
        for name, shape in expected_shapes(config, len(source.vocabulary)).items()
    }
    target = folder / f"{cell}-{units}"
    write_model_dir(target, config, source.vocabulary, weights, source.metrics)
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


def one_network(path: Path) -> SentimentModel:
    model = load_model(path)
    if not isinstance(model, SentimentModel):
        raise SystemExit(f"{path} is an ensemble; name single-network versions (students)")
    return model


def main(versions: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        models = {path.name: one_network(path) for path in versions}
        first = next(iter(models.values()))
        for cell, units in SHAPES:
            path = random_variant(first, cell, units, Path(folder))
            models[path.name] = one_network(path)
        print_timings(models)


def print_timings(models: dict[str, SentimentModel]) -> None:
    """Each model's median over `ROUNDS` alternating rounds, one line each."""
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for _ in range(ROUNDS):
        for name, model in models.items():
            rounds[name].append(timings(model))
    for name, figures in rounds.items():
        whole = statistics.median(figure[0] for figure in figures)
        network = statistics.median(figure[1] for figure in figures)
        print(f"{name}: trace p50 {whole:.2f} ms, of which the recurrent layer {network:.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main([Path(arg) for arg in sys.argv[1:]])
