"""Where one retrain of `make bench-loop`'s twenty users spends its time, phase by phase
(docs/learning-loop.md, "One trace, one reading").

    MODEL_REGISTRY=<registry serving the model> PYTHONPATH=. \\
        python docs/experiments/retrain_phases.py

Each phase is timed by wrapping the function that runs it; a network's fine-tunes are
listed one by one (name: seconds), the teacher's before the student's in each job.
The registry is copied first, as `benchmarks.loop_bench` does, so nothing is published
into it.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import training.focus as focus
import training.follow as follow
import training.retrain as retrain
from benchmarks.loop_bench import TWENTY, Loop
from training.recipe import RetrainRecipe
from training.registry import Registry
from training.trust import CorrectionRow

seconds: defaultdict[str, float] = defaultdict(float)
calls: Counter[str] = Counter()
fine_tunes: list[str] = []


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
            if phase == "network fine-tunes":
                fine_tunes.append(f"{args[0].base.config.name}:{took:.1f}")

    setattr(owner, name, wrapper)


def main() -> None:
    timed(retrain, "_learner", "start: readings, the student's replay targets")
    timed(retrain, "_cross_validate", "cross-validation (two probes)")
    timed(retrain, "_final_candidate", "final candidate")
    timed(retrain, "_judge", "gate")
    timed(focus.NetworkTrainer, "__init__", "network trainers built")
    timed(focus.NetworkTrainer, "train", "network fine-tunes")
    timed(focus.NgramTrainer, "train", "n-gram refits")
    timed(follow.Follower, "_teacher_positives", "teacher traces of the transfer set")
    loop = Loop(Registry.from_env().root, Path(tempfile.mkdtemp()))
    wrong = loop._wrong_verdicts(TWENTY)
    rows = [
        CorrectionRow(k + 1, text, label, 1000 + k, float(k))
        for k, (text, label) in enumerate(zip(wrong.texts, wrong.labels, strict=True))
    ]
    started = time.perf_counter()
    result = retrain.retrain(RetrainRecipe(), Registry(loop.root), rows, lambda _: None)
    print(f"retrain: {time.perf_counter() - started:.1f} s, {result.status.value}")
    for phase, total in seconds.items():
        print(f"  {phase}: {total:.1f} s ({calls[phase]} calls)")
    print("  fine-tunes in order:", " ".join(fine_tunes))


if __name__ == "__main__":
    main()
