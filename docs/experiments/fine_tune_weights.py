"""Whether a change to the focused fine-tune changes what it learns: every network of a
served student and its teacher, three jobs each, saved to compare between two commits
(docs/learning-loop.md, "The rows a fine-tune reads" and "Padding read, not masked").

    MODEL_REGISTRY=<registry serving the student beside its teacher> PYTHONPATH=<checkout> \\
        python docs/experiments/fine_tune_weights.py save OUT.npz
    python docs/experiments/fine_tune_weights.py compare A.npz B.npz

It runs at any commit whose focused fine-tune has one trainer per network: run this file
from this checkout, with PYTHONPATH at the other. The jobs are those of
`focus_step_costs.py rows`: half of 120 steps on 19 corrections, all 120, then 300 test
reviews as corrections, on one trainer per network as a retrain runs them. `save` prints
each job's seconds; `compare` the largest difference between the two files' arrays for
each network and job.
"""

from __future__ import annotations

import sys
import time
from typing import Any, NamedTuple

import numpy as np


class Setting(NamedTuple):
    """The served student, the retrain's replay and the three jobs (focus_step_costs.py)."""

    registry: Any
    student: Any
    recipe: Any
    replay: Any
    jobs: list[tuple[Any, float]]


def setting() -> Setting:
    from nlp.inference import SentimentModel
    from training.data import load_split
    from training.focus import Labelled
    from training.recipe import RetrainRecipe
    from training.registry import Registry
    from training.retrain import _replay

    registry = Registry.from_env()
    student = registry.load_current()
    assert isinstance(student, SentimentModel), "the served model must be a student"
    recipe = RetrainRecipe()
    replay = _replay(load_split("train"), recipe)
    corrections = Labelled(replay.texts[:19], [1 - label for label in replay.labels[:19]])
    test = load_split("test").head(300)
    jobs = [(corrections, 0.5), (corrections, 1.0), (Labelled(test.texts, test.labels), 1.0)]
    return Setting(registry, student, recipe, replay, jobs)


def save(path: str) -> None:
    from nlp.inference import SentimentModel
    from training.focus import NetworkTrainer
    from training.follow import teacher_to_follow

    registry, student, recipe, replay, jobs = setting()
    arrays: dict[str, np.ndarray] = {}
    teacher = registry.load(teacher_to_follow(student) or "").members
    for network in [student, *(n for n in teacher if isinstance(n, SentimentModel))]:
        trainer = NetworkTrainer(network, replay, recipe.focus, 1e-4, recipe.seed)
        for job, (taught, share) in enumerate(jobs):
            started = time.monotonic()
            member, _ = trainer.train(taught, share)
            print(f"{network.config.name} job {job + 1}: {time.monotonic() - started:.2f} s")
            arrays |= {f"{network.config.name}/{job + 1}/{k}": v for k, v in member.weights.items()}
    np.savez(path, **arrays)  # type: ignore[arg-type]


def compare(first: str, second: str) -> None:
    a, b = np.load(first), np.load(second)
    assert set(a.files) == set(b.files), "the files hold other networks or jobs"
    largest: dict[str, float] = {}
    for name in a.files:
        job = name.rsplit("/", 1)[0]
        largest[job] = max(largest.get(job, 0.0), float(np.max(np.abs(a[name] - b[name]))))
    for job, difference in largest.items():
        print(f"{job}: largest difference {difference}")


if __name__ == "__main__":
    if sys.argv[1] == "save":
        save(sys.argv[2])
    else:
        compare(sys.argv[2], sys.argv[3])
