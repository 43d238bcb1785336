"""Where one retrain of `make bench-loop`'s twenty users spends its time, phase by phase
(docs/learning-loop.md, "One trace, one reading").

    MODEL_REGISTRY=<registry serving the model> PYTHONPATH=. \\
        python docs/experiments/retrain_phases.py [calls]

Each phase is timed by wrapping the function that runs it; a network's fine-tunes are
listed one by one (name: seconds), the teacher's before the student's in each job. The
base models' readings and verdicts of the retrain's fixed texts are kept in
`SENTIMENT_CACHE_DIR/retrain` (training.read_cache): the first run after a new model
fills it, the next load it (docs/learning-loop.md, "Read once, kept").
With `calls`, every timed call is listed as it ends (seconds since the retrain started,
its own seconds, the phase, the model's configuration and how many texts), and each
member's reading (`encode_many`) is timed too.
The registry is copied first, as `benchmarks.loop_bench` does, so nothing is published
into it.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import training.focus as focus
import training.follow as follow
import training.read_cache as read_cache
import training.retrain as retrain
from benchmarks.loop_bench import TWENTY, Loop
from nlp.ensemble import Ensemble
from nlp.inference import SentimentModel
from training.recipe import RetrainRecipe
from training.registry import Registry
from training.trust import CorrectionRow

seconds: defaultdict[str, float] = defaultdict(float)
calls: Counter[str] = Counter()
fine_tunes: list[str] = []


LISTED = "calls" in sys.argv[1:]
opened: list[float] = []  # when the retrain started


def timed(owner: Any, name: str, phase: str) -> None:
    """`owner.name` replaced by itself, its time added to `phase`."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            took = time.perf_counter() - started
            seconds[phase] += took
            calls[phase] += 1
            if LISTED and opened:
                print(f"{started - opened[0]:7.2f} s +{took:5.2f} s  {phase}{_about(args)}")
            if phase == "network fine-tunes":
                fine_tunes.append(f"{args[0].base.config.name}:{took:.1f}")

    setattr(owner, name, wrapper)


def _about(args: tuple[Any, ...]) -> str:
    """The model's configuration and the number of texts of a timed call, where it has them."""
    name, texts = "", ""
    for value in args[:3]:  # the last model named: a follower's teacher, not its student
        config = getattr(getattr(value, "base", value), "config", None)
        if config is not None:
            name = f" {config.name}"
        elif isinstance(value, list | tuple) and value and isinstance(value[0], str):
            texts = f", {len(value)} texts"
    return name + texts


def main() -> None:
    if LISTED:
        timed(SentimentModel, "encode_many", "a network's reading")
        timed(Ensemble, "encode_many", "an ensemble's reading")
    timed(retrain, "_learner", "start: readings, the student's replay targets")
    timed(retrain, "_cross_validate", "cross-validation (two probes)")
    timed(retrain, "_final_candidate", "final candidate")
    timed(retrain, "_judge", "gate")
    timed(focus.NetworkTrainer, "__init__", "network trainers built")
    timed(focus.NetworkTrainer, "train", "network fine-tunes")
    timed(focus.NgramTrainer, "train", "n-gram refits")
    timed(follow.Follower, "_teacher_positives", "teacher traces of the transfer set")
    timed(read_cache.ReadCache, "readings", "base models' readings of fixed texts, kept")
    timed(read_cache.ReadCache, "positives", "base models' verdicts of them, kept")
    loop = Loop(Registry.from_env().root, Path(tempfile.mkdtemp()))
    wrong = loop._wrong_verdicts(TWENTY)
    rows = [
        CorrectionRow(k + 1, text, label, 1000 + k, float(k))
        for k, (text, label) in enumerate(zip(wrong.texts, wrong.labels, strict=True))
    ]
    started = time.perf_counter()
    opened.append(started)
    result = retrain.retrain(RetrainRecipe(), Registry(loop.root), rows, lambda _: None)
    print(f"retrain: {time.perf_counter() - started:.1f} s, {result.status.value}")
    for phase, total in seconds.items():
        print(f"  {phase}: {total:.1f} s ({calls[phase]} calls)")
    print("  fine-tunes in order:", " ".join(fine_tunes))


if __name__ == "__main__":
    main()
