"""The student closest to its teacher, as one command: three training stages and the mean
of the last two networks (docs/results.md, "More chat for the two-layer student, and
weight averages"; `make train-student` runs it).

    python -m training.student_stages [--config student-pieces-deep] [--teacher current]
        [--out DIR] [--limit N] [--test-limit N] [--seed N] [--no-holdout]
        [--make-current auto|yes|no]

1. the configuration's own run, distilled with `student+variants` (7 epochs, the last 3
   annealed);
2. two more epochs from it, the learning rate back up and falling to 0 again;
3. two more from that with every chat-like text there is, four times an epoch
   (`student+variants+morechat`): alone it closes the chat gap, after 2 without costing
   reviews (one such pair straight after 1 does not);
4. the mean of 2's and 3's weights (training.weight_average), published as the version.

The teacher is fixed when the command starts (`current` is read once), so a bot that
swaps models meanwhile cannot give the stages different teachers. Each stage is published
as a version when it ends, so a run that stops resumes at the stage it was in (a stage's
run key names its base); once the average is published they are deleted: the registry
gains one version, whose metrics list its stages.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

from nlp.artifacts import ModelLoadError, write_model_dir
from nlp.inference import SentimentModel
from nlp.model_config import CONFIGS, ModelConfig
from training.data import load_split
from training.distill import (
    DISTILL_PLANS,
    STUDENT_VARIANTS_MORE_CHAT_PLAN,
    STUDENT_VARIANTS_PLAN,
)
from training.evaluate import evaluate
from training.paths import TrainingPaths
from training.protocol import MakeCurrent, TrainCommand, require_positive
from training.quiet import quiet_tensorflow
from training.registry import Registry, RegistryError
from training.train import (
    ANNEAL_EPOCHS,
    TrainingFailure,
    TrainingResult,
    offer_as_current,
    resolve_teacher,
    split_validation,
    train_version,
)
from training.weight_average import WeightAverageError, averaged_model


@dataclass(frozen=True)
class StudentStage:
    plan: str  # a plan in training.distill.PLANS
    epochs: int | None  # None: the configuration's own
    continues: bool  # anneals the previous stage's network rather than starting afresh

    def describe(self, configured_epochs: int) -> str:
        start = "annealing the previous stage's network" if self.continues else "from scratch"
        return f"{self.epochs or configured_epochs} epochs of {self.plan}, {start}"


STAGES = (
    StudentStage(STUDENT_VARIANTS_PLAN.name, None, continues=False),
    StudentStage(STUDENT_VARIANTS_PLAN.name, ANNEAL_EPOCHS, continues=True),
    StudentStage(STUDENT_VARIANTS_MORE_CHAT_PLAN.name, ANNEAL_EPOCHS, continues=True),
)
AVERAGED = 2  # the last stages whose networks are averaged into the published version
STUDENT_CONFIGS = sorted(
    name
    for name, plan in DISTILL_PLANS.items()
    if plan.name == STUDENT_VARIANTS_PLAN.name and name in CONFIGS
)


def train_student(command: TrainCommand, registry: Registry) -> TrainingResult:
    """Every stage of `STAGES` as `command` asks (its data, limits, seed and holdout), then
    their average, published; raises TrainingFailure with the reason a stage stopped."""
    teacher = str(resolve_teacher(command.teacher or "current", registry))
    print(f"teacher: {teacher}")
    config = CONFIGS[command.config]
    configured_epochs = config.max_epochs if isinstance(config, ModelConfig) else 1
    stages: list[TrainingResult] = []
    for number, stage in enumerate(STAGES, 1):
        print(f"stage {number} of {len(STAGES)}: {stage.describe(configured_epochs)}", flush=True)
        step = replace(
            command,
            distill=stage.plan,
            teacher=teacher,
            epochs=stage.epochs,
            anneal_from=stages[-1].path if stage.continues else None,
            make_current="no",
        )
        stages.append(train_version(step, registry, reuse=True))
    result = _publish_average(command, registry, stages)
    for stage_result in stages:
        if registry.current_name() != stage_result.name:
            registry.discard(stage_result.name)
    return result


def _publish_average(
    command: TrainCommand, registry: Registry, stages: list[TrainingResult]
) -> TrainingResult:
    started = time.time()
    averaged = stages[-AVERAGED:]
    try:
        loaded = [registry.load(stage.name) for stage in averaged]
        networks = [network for network in loaded if isinstance(network, SentimentModel)]
        if len(networks) != len(loaded):
            raise TrainingFailure(f"configuration {command.config!r} is not one network")
        name = registry.new_version_name(command.config)
        model = averaged_model(networks, name)
    except (ModelLoadError, RegistryError, WeightAverageError) as error:
        raise TrainingFailure(str(error)) from error
    print(f"averaging {' and '.join(stage.name for stage in averaged)}")
    metrics = _average_metrics(command, model, stages, averaged, started)
    with registry.staging(name) as staging:
        write_model_dir(staging, model.config, model.vocabulary, model.weights, metrics)
        path = registry.publish(staging)
    print(f"version {name}: test accuracy {metrics['test_accuracy']:.4f}")
    print(f"model directory: {path}")
    return TrainingResult(name, path, metrics)


def _average_metrics(
    command: TrainCommand,
    model: SentimentModel,
    stages: list[TrainingResult],
    averaged: list[TrainingResult],
    started: float,
) -> dict[str, Any]:
    """The averaged network's own figures, on the same test file and validation rows as
    its stages, and what each stage was; its seconds are the stages' and the averaging's
    since `started` (a resumed run counts each stage's own time)."""
    paths = TrainingPaths.from_env()
    test = load_split("test", paths).head(command.test_limit)
    evaluation = evaluate(model, test.texts, test.labels, progress=False)
    last = stages[-1].metrics
    return {
        "version": model.version,
        "config": model.config.name,
        "test_accuracy": evaluation.accuracy,
        "test_n": evaluation.n,
        "test_precision": evaluation.precision,
        "test_recall": evaluation.recall,
        "best_val_accuracy": _validation_accuracy(command, model),
        "holdout": not command.no_holdout,
        "epochs_run": sum(stage.metrics["epochs_run"] for stage in stages),
        **{key: last[key] for key in ("train_n", "extra_n", "train_sha256", "test_sha256")},
        "data": last["data"],
        "fine_tuned_from": None,
        "averaged_from": [stage.name for stage in averaged],
        "stages": [_stage_summary(stage) for stage in stages],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(sum(s.metrics["seconds"] for s in stages) + time.time() - started, 1),
        "peak_rss_mb": max(stage.metrics["peak_rss_mb"] for stage in stages),
    }


def _validation_accuracy(command: TrainCommand, model: SentimentModel) -> float | None:
    """On the stages' validation rows (the same split, by seed), when they held some out."""
    if command.no_holdout:
        return None
    train = load_split("train", TrainingPaths.from_env()).head(command.limit)
    _, rows = split_validation(len(train), command.seed)
    texts = [train.texts[i] for i in rows]
    labels = [train.labels[i] for i in rows]
    return evaluate(model, texts, labels, progress=False).accuracy


def _stage_summary(stage: TrainingResult) -> dict[str, Any]:
    metrics = stage.metrics
    return {
        "version": stage.name,
        "plan": metrics["data"].get("distilled", {}).get("plan"),
        "fine_tuned_from": metrics["fine_tuned_from"],
        "epochs_run": metrics["epochs_run"],
        "test_accuracy": metrics["test_accuracy"],
        "best_val_accuracy": metrics["best_val_accuracy"],
        "seconds": metrics["seconds"],
    }


def parse(argv: Sequence[str] | None) -> TrainCommand:
    """The options a staged run shares with `python -m training.train`; the stages choose
    the plans, epochs and bases themselves."""
    parser = argparse.ArgumentParser(prog="python -m training.student_stages", description=__doc__)
    parser.add_argument("--config", choices=STUDENT_CONFIGS, default="student-pieces-deep")
    parser.add_argument(
        "--teacher",
        default="current",
        help="a model version directory, or 'current' (the registry's served version)",
    )
    parser.add_argument("--out", type=Path, default=None, help="registry directory")
    parser.add_argument("--limit", type=int, default=None, help="only the first N training rows")
    parser.add_argument("--test-limit", type=int, default=None, help="only the first N test rows")
    parser.add_argument("--seed", type=int, default=TrainCommand.seed)
    parser.add_argument(
        "--no-holdout",
        action="store_true",
        help="train every stage on every training row (no validation figures)",
    )
    parser.add_argument(
        "--make-current",
        choices=get_args(MakeCurrent),
        default="auto",
        help="auto: when there is no current version or the average is at least as accurate",
    )
    args = parser.parse_args(argv)
    require_positive(parser, args, ("limit", "test_limit"))
    return TrainCommand(**vars(args))


def main(argv: Sequence[str] | None = None) -> int:
    command = parse(argv)
    quiet_tensorflow()
    registry = Registry(command.out) if command.out else Registry.from_env()
    try:
        result = train_student(command, registry)
    except (TrainingFailure, RegistryError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    offer_as_current(registry, result, command.make_current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
