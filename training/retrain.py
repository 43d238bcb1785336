"""The retraining job: corrections in, a gated candidate version out. Run as its own process.

    python -m training.retrain --registry DIR --corrections FILE.json [--out-result FILE.json]
        [--recipe RECIPE.json] [--mode finetune|full] [--base VERSION] [--watch-stdin]

`--corrections` holds a JSON list of rows `{id, text, corrected_label, user_id,
created_at}` (and optionally `review`: "approved" or "rejected", a bot admin's decision);
`--recipe` a `training.recipe.RetrainRecipe` as JSON (every field optional). The result,
in the last event on stdout and in the `--out-result` file, is a
`training.protocol.RetrainResult`: `status` (accepted, rejected,
nothing_to_learn, failed), `candidate_version`, the gate's checks with their figures, the
corrections used and waiting, and examples whose verdict flipped.

Why a separate process: training needs TensorFlow (~500 MB) and minutes of CPU, neither
of which belongs in the bot's event loop; a crash or `kill -9` here cannot take the bot
down with it. Stdout carries only `ProgressEvent` JSON lines; anything a library prints
goes to stderr. This job never moves CURRENT: it publishes an accepted candidate and
reports; the bot is the single writer of CURRENT. Exit codes: 0 a decision was made,
1 an error, 2 bad arguments, 3 disk full, 4 the parent died.
"""

from __future__ import annotations

import errno
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from nlp.artifacts import ModelLoadError
from nlp.ensemble import Readings, Servable, Trained, positives_read
from nlp.model_config import CONFIGS, AnyConfig, NgramConfig
from training.array_cache import cached_array
from training.corpora import (
    DEFAULT_MIX,
    LabelledRows,
    chat_sample,
    extra_rows,
    held_out_chat_texts,
)
from training.data import Corpus, DataError, load_split, read_corpus
from training.focus import Focuser, Labelled, Learner, MemberCallback
from training.follow import Follower, teacher_of, teacher_to_follow
from training.gate import (
    CheckName,
    GateCheck,
    GateDecision,
    check_canaries,
    check_generalises,
    check_learned,
    check_nsmc,
    evidence_of,
)
from training.paths import TrainingPaths
from training.protocol import (
    CorrectionsReport,
    Emit,
    EventKind,
    Flip,
    ProgressEvent,
    RetrainCommand,
    RetrainResult,
    RetrainStatus,
    Stage,
    event_writer,
    exit_when_parent_dies,
    protocol_stream,
)
from training.quiet import quiet_tensorflow
from training.read_cache import ReadCache
from training.recipe import RecipeError, RetrainRecipe
from training.registry import Registry, RegistryError
from training.trust import (
    CorrectionRow,
    Example,
    Selection,
    carried,
    normalise,
    read_rows,
    select_for_training,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DISK_FULL = 3
# 4: training.protocol.EXIT_PARENT_GONE, the parent died (--watch-stdin)

CANARY_FILE = Path(__file__).with_name("canary.tsv")
MAX_FLIPS = 8


def retrain(
    recipe: RetrainRecipe,
    registry: Registry,
    rows: Sequence[CorrectionRow],
    emit: Emit,
    base_version: str | None = None,
) -> RetrainResult:
    """Select, train, gate; an accepted candidate is published (not made current).

    `base_version` is the model to improve (the bot passes the one it serves); CURRENT
    by default. Rows marked `learned` (sent for full retrains) are not judged again: a
    full retrain, from scratch, teaches them again beside the new ones, and the gate's
    learned check covers them too; the generalisation check judges the new ones."""
    started = time.time()
    base = registry.load(base_version) if base_version else registry.load_current()
    asked = recipe.mode
    recipe = _mode_for(base, recipe)
    declined = recipe.mode != asked
    emit(ProgressEvent(EventKind.STAGE, Stage.READING))
    new_rows = [row for row in rows if not row.learned]
    before = _positive(base, sorted({normalise(row.text) for row in new_rows} - {""}))
    selection = select_for_training(new_rows, before, recipe.trust, recipe.gate.folds)
    again = (
        carried([row for row in rows if row.learned], selection) if recipe.mode == "full" else []
    )
    report = _report(selection, before, None)
    evidence = evidence_of([example.fold for example in selection.used], recipe.gate)
    if not selection.used or not evidence.enough:  # the gate could not accept it
        return RetrainResult(
            RetrainStatus.NOTHING_TO_LEARN,
            recipe.mode,
            base.version,
            corrections=report,
            seconds=_since(started),
            full_declined=declined,
        )
    emit(ProgressEvent(EventKind.STAGE, Stage.TOKENISING))
    train = load_split("train")
    teacher = _teacher(base, registry, recipe)
    cache = ReadCache(TrainingPaths.from_env().cache_dir / "retrain")
    focuser = _learner(base, teacher, _replay(train, recipe), recipe, cache)
    taught = Labelled(
        selection.texts + [e.text for e in again], selection.labels + [e.label for e in again]
    )
    out_of_fold = _cross_validate(focuser, selection, before, recipe, emit)
    emit(ProgressEvent(EventKind.STAGE, Stage.TRAINING, job="final"))
    candidate, trained = _final_candidate(recipe, registry, base, focuser, taught, train, emit)
    emit(ProgressEvent(EventKind.STAGE, Stage.EVALUATING))
    after = _positive(candidate, taught.texts)
    checks, flips = _judge(
        recipe, base, candidate, selection, taught, before, after, out_of_fold, emit, cache
    )
    decision = GateDecision(tuple(checks))
    version = _keep_or_discard(registry, recipe, base, candidate, trained, decision, selection)
    return RetrainResult(
        RetrainStatus.ACCEPTED if decision.accepted else RetrainStatus.REJECTED,
        recipe.mode,
        base.version,
        candidate_version=version,
        decision=decision,
        corrections=_report(selection, before, after, again),
        flips=tuple(flips),
        seconds=_since(started),
        teacher_version=teacher.version if teacher else None,
        full_declined=declined,
    )


def _mode_for(base: Servable, recipe: RetrainRecipe) -> RetrainRecipe:
    """A full retrain trains the base's configuration from scratch on labels. A distilled
    student would lose what its teacher's probabilities gave it (its own first stage
    takes two hours with them) and then be judged against the distilled student it
    replaces; so it learns the corrections through its teacher, as a focused retrain
    does, and `make train-student` distils a new one."""
    if recipe.mode == "full" and teacher_to_follow(base) is not None:
        return replace(recipe, mode="finetune")
    return recipe


def _teacher(base: Servable, registry: Registry, recipe: RetrainRecipe) -> Servable | None:
    """The model a served student learns through (training.follow); None when it learns
    alone: the recipe says so, the base is no student, or its teacher cannot be loaded
    (deleted, or damaged: said on stderr, and the student's own fine-tune still runs)."""
    name = teacher_to_follow(base)
    if recipe.mode != "finetune" or not recipe.focus.follow_teacher or name is None:
        return None
    try:
        return registry.load(name)  # verifies every file: a damaged teacher is refused
    except (ModelLoadError, RegistryError, OSError) as error:
        warning = f"warning: teacher {name} cannot be loaded ({error}): learning alone"
        print(warning, file=sys.stderr)
        return None


def _learner(
    base: Servable,
    teacher: Servable | None,
    replay: Labelled,
    recipe: RetrainRecipe,
    cache: ReadCache,
) -> Learner:
    """The base's own fine-tune, or, for a student with its teacher, learning through it."""
    rules, seed = recipe.focus, recipe.seed
    if teacher is None:
        return Focuser(base, replay, rules, _learning_rate(base, recipe), seed, cache)
    chat = chat_sample(TrainingPaths.from_env().chat_dir, rules.transfer_chat_rows, seed)
    through = Focuser(teacher, replay, rules, _learning_rate(teacher, recipe), seed, cache)
    return Follower(base, through, chat, rules, _learning_rate(base, recipe), seed)


def _cross_validate(
    focuser: Learner,
    selection: Selection,
    before: dict[str, float],
    recipe: RetrainRecipe,
    emit: Emit,
) -> dict[str, float]:
    """Each correction's P(positive) from a candidate trained without its fold."""
    folds = recipe.gate.folds
    out_of_fold = {}
    for fold in range(folds):
        inside, outside = selection.split(fold)
        texts = [example.text for example in outside]
        if not inside:  # nothing to train on: the held-out texts did not move
            out_of_fold.update({text: before[text] for text in texts})
            continue
        if not outside:
            continue
        job = f"fold {fold + 1}/{folds}"
        emit(ProgressEvent(EventKind.STAGE, Stage.TRAINING, job=job))
        share = len(inside) / len(selection.used)
        trained = focuser.train(Labelled.of(inside), _member_events(emit, job), share)
        out_of_fold.update(_positive(_assemble(focuser.base, trained), texts))
    return out_of_fold


def _final_candidate(
    recipe: RetrainRecipe,
    registry: Registry,
    base: Servable,
    focuser: Learner,
    corrections: Labelled,
    train: Corpus,
    emit: Emit,
) -> tuple[Servable, list[Trained] | None]:
    """The model that would be served: focused on every used correction, or (mode full)
    retrained from scratch with them, in which case it is already in the registry."""
    if recipe.mode == "finetune":
        trained = focuser.train(corrections, _member_events(emit, "final"))
        return _assemble(base, trained), trained
    from training.train import TrainingRequest, run_training

    repeat = max(1, round(recipe.focus.ngram_correction_weight))
    rows = train.head(recipe.limit)
    data = recipe_data(rows, train)
    request = TrainingRequest(
        CONFIGS.get(base.config.name, base.config),
        rows,
        load_split("test").head(recipe.gate.nsmc_rows),
        seed=recipe.seed,
        extra_texts=data.texts + list(corrections.texts) * repeat,
        extra_labels=list(data.labels) + list(corrections.labels) * repeat,
        progress=False,
        holdout=False,
        note={"retrain": {"mode": "full", "corrections": len(corrections)}, **_kept_role(base)},
    )
    result = run_training(request, registry)
    return registry.load(result.name), None


def recipe_data(rows: Corpus, train: Corpus) -> LabelledRows:
    """The extra rows `make train` learns from (training.corpora), in the same share as
    `rows` of the training file: a full retrain must not forget what the model learnt of
    chat. (The teacher's distilled rows are `make train`'s alone.)"""
    paths = TrainingPaths.from_env()
    held_out = load_split("test").texts + held_out_chat_texts()
    data = extra_rows(DEFAULT_MIX, paths.nsmc_dir, paths.chat_dir, held_out, required=False)
    return data.share(len(rows) / len(train))


def _judge(
    recipe: RetrainRecipe,
    base: Servable,
    candidate: Servable,
    selection: Selection,
    taught: Labelled,
    before: dict[str, float],
    after: dict[str, float],
    out_of_fold: dict[str, float],
    emit: Emit,
    cache: ReadCache,
) -> tuple[list[GateCheck], list[Flip]]:
    """`taught`: the new corrections and (full retrains) those learned before; the learned
    check covers them all, the generalisation check the new ones."""
    emit(ProgressEvent(EventKind.STAGE, Stage.GATING))
    rules = recipe.gate
    test = load_split("test").head(rules.nsmc_rows)
    nsmc_before = _cached_labels(base, test)
    if recipe.mode == "finetune":  # reads as its base does: the base's readings, kept
        nsmc_after = _labels_read(candidate, cache.readings(base, test.texts))
    else:
        nsmc_after = _labels(candidate, test.texts)
    canary = read_corpus(CANARY_FILE)
    canary_before, canary_after = _labels(base, canary.texts), _labels(candidate, canary.texts)
    texts, labels = selection.texts, selection.labels
    checks = [
        check_nsmc(test.labels, nsmc_before, nsmc_after, rules),
        check_canaries(canary.texts, canary.labels, canary_before, canary_after, rules),
        check_learned(
            [round(y) for y in taught.labels], [int(after[t] >= 0.5) for t in taught.texts], rules
        ),
        check_generalises(
            labels, [before[t] for t in texts], [out_of_fold[t] for t in texts], rules
        ),
    ]
    flips = [
        Flip(t, y, before[t], after[t], "correction")
        for t, y in zip(texts, labels, strict=True)
        if (before[t] >= 0.5) != (after[t] >= 0.5)
    ][: MAX_FLIPS // 2]
    broken = [i for i, y in enumerate(test.labels) if nsmc_before[i] == y != nsmc_after[i]]
    flips += _probability_flips(base, candidate, test, broken[: MAX_FLIPS - len(flips)], "nsmc")
    return checks, flips


def _probability_flips(
    base: Servable, candidate: Servable, data: Corpus, rows: list[int], source: str
) -> list[Flip]:
    texts = [data.texts[i] for i in rows]
    before, after = _positive(base, texts), _positive(candidate, texts)
    return [Flip(t, data.labels[i], before[t], after[t], source) for i, t in zip(rows, texts)]


def _keep_or_discard(
    registry: Registry,
    recipe: RetrainRecipe,
    base: Servable,
    candidate: Servable,
    trained: list[Trained] | None,
    decision: GateDecision,
    selection: Selection,
) -> str | None:
    """Publish an accepted fine-tune; drop a rejected full retrain (already published)."""
    if trained is None:
        if not decision.accepted:
            registry.discard(candidate.version)
            return None
        return candidate.version
    if not decision.accepted:
        return None
    from training.train import write_version

    nsmc_check = decision.check(CheckName.NSMC)
    nsmc = nsmc_check.figures if nsmc_check is not None else {}
    name = registry.new_version_name(base.config.name)
    metrics = {
        "version": name,
        "config": base.config.name,
        "test_accuracy": nsmc["accuracy_after"],
        "test_n": nsmc["n"],
        "fine_tuned_from": base.version,
        "holdout": bool(base.metrics.get("holdout", True)),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "retrain": {
            "mode": recipe.mode,
            "corrections": len(selection.used),
            "recipe": asdict(recipe.focus),
        },
        **_kept_role(base),
        **_kept_teacher(base),
    }
    with registry.staging(name) as staging:
        write_version(staging, _assemble(base, trained, name), trained, metrics)
        registry.publish(staging)
    return name


def _kept_role(base: Servable) -> dict[str, str]:
    """A quick stand-in improved by corrections is still one: the full model must still
    replace it (bot.first_model reads the role)."""
    role = base.metrics.get("role")
    return {"role": role} if role else {}


def _kept_teacher(base: Servable) -> dict[str, str]:
    """A fine-tuned student still learns through the teacher it was distilled from."""
    teacher = teacher_of(base.metrics)
    return {"teacher": teacher} if teacher else {}


# --- models, predictions and data -------------------------------------------------------------


def _assemble(base: Servable, trained: list[Trained], name: str | None = None) -> Servable:
    from training.train import assemble_model

    return assemble_model(base.config, trained, name or f"{base.version}+candidate")


def _positive(model: Servable, texts: Sequence[str]) -> dict[str, float]:
    return {trace.text: trace.positive for trace in model.trace_batch(list(texts))} if texts else {}


def _labels(model: Servable, texts: Sequence[str]) -> list[int]:
    from training.evaluate import predict_labels

    return predict_labels(model, list(texts), progress=False)


def _labels_read(model: Servable, readings: Readings) -> list[int]:
    """`_labels` of the texts `readings` holds, read by `model` or the model it was
    fine-tuned from: fine-tuning changes weights, never how a model reads
    (nlp.ensemble.Ensemble.encode_many). Reading the gate's 10,000 NSMC reviews took an
    ensemble's candidate 5 s of its 8 s check."""
    return [int(p >= 0.5) for p in positives_read(model, readings)]  # as Trace.label


def _cached_labels(model: Servable, data: Corpus) -> list[int]:
    """The current model's NSMC predictions do not change between runs: kept on disk."""
    cache = (
        TrainingPaths.from_env().cache_dir
        / "gate"
        / f"{model.version}-{data.sha256[:16]}-{len(data)}.npy"
    )
    labels = cached_array(
        cache, len(data), lambda: np.asarray(_labels(model, data.texts), dtype=np.int8)
    )
    return [int(label) for label in labels]


def _replay(train: Corpus, recipe: RetrainRecipe) -> Labelled:
    rows = np.random.default_rng(recipe.seed).permutation(len(train))[: recipe.focus.replay_rows]
    return Labelled([train.texts[i] for i in rows], [train.labels[i] for i in rows])


def _learning_rate(base: Servable, recipe: RetrainRecipe) -> float:
    """From the named recipe, so fine-tuning a fine-tuned model never compounds."""
    recipe_config: AnyConfig = CONFIGS.get(base.config.name, base.config)
    if isinstance(recipe_config, NgramConfig):
        return 0.0  # an n-gram model alone is refitted, not stepped: no learning rate
    return recipe_config.learning_rate * recipe.focus.learning_rate_share


def _member_events(emit: Emit, job: str) -> MemberCallback:
    def on_member(member: int, members: int, name: str, logs: dict[str, float]) -> None:
        emit(
            ProgressEvent(
                EventKind.MEMBER,
                Stage.TRAINING,
                job=job,
                member=member,
                members=members,
                member_name=name,
                loss=logs.get("loss"),
            )
        )

    return on_member


def _report(
    selection: Selection,
    before: dict[str, float],
    after: dict[str, float] | None,
    again: Sequence[Example] = (),
) -> CorrectionsReport:
    def accuracy(positive: dict[str, float] | None) -> float | None:
        if positive is None or not selection.used:
            return None
        right = sum((positive[e.text] >= 0.5) == e.label for e in selection.used)
        return right / len(selection.used)

    return CorrectionsReport(
        rows=selection.rows_in,
        used_ids=tuple(selection.used_ids),
        used_by_route=selection.route_counts(),
        waiting_by_reason=selection.waiting_counts(),
        accuracy_before=accuracy(before),
        accuracy_after=accuracy(after),
        carried=len(again),
        carried_after=(
            sum((after[e.text] >= 0.5) == e.label for e in again) / len(again)
            if again and after is not None
            else None
        ),
    )


def _since(started: float) -> float:
    return round(time.time() - started, 1)


# --- command line -----------------------------------------------------------------------

# Errors with a message fit for the admin; anything else also gets its traceback on stderr.
_EXPECTED = (OSError, ValueError, KeyError, DataError, RegistryError, ModelLoadError)


def _describe(error: BaseException) -> tuple[str, str, int]:
    """(message, kind, exit code) for an error that ended the job."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f" while writing {error.filename}" if error.filename else ""
        return f"disk full{where}: free some space and retry", "disk_full", EXIT_DISK_FULL
    return f"{type(error).__name__}: {error}", "error", EXIT_ERROR


def _recipe(args: RetrainCommand) -> RetrainRecipe:
    recipe = RetrainRecipe.read(args.recipe) if args.recipe else RetrainRecipe()
    return replace(recipe, mode=args.mode) if args.mode else recipe


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = RetrainCommand.parse(argv, description=__doc__)
    emit = event_writer(out or sys.stdout)
    if args.watch_stdin:
        exit_when_parent_dies()
    try:
        recipe = _recipe(args)
    except (OSError, ValueError, RecipeError) as error:
        print(f"error: bad recipe: {error}", file=sys.stderr)
        return EXIT_USAGE
    code = EXIT_OK
    try:
        rows = read_rows(args.corrections)
        result = retrain(recipe, Registry(args.registry), rows, emit, args.base)
    except Exception as error:  # the job's top level: every failure becomes a result
        if not isinstance(error, _EXPECTED):
            traceback.print_exc()
        message, kind, code = _describe(error)
        result = RetrainResult(RetrainStatus.FAILED, recipe.mode, error=message, error_kind=kind)
    try:
        if args.out_result is not None:
            result.write(args.out_result)
    except OSError as error:  # the disk may be full: the event below still gets through
        print(f"error: cannot write {args.out_result}: {error}", file=sys.stderr)
        code = code or _describe(error)[2]
    kind = EventKind.DONE if code == EXIT_OK else EventKind.ERROR
    emit(
        ProgressEvent(
            kind,
            status=result.status.value,
            candidate_version=result.candidate_version,
            error=result.error,
            retrain=result,
        )
    )
    return code


if __name__ == "__main__":
    quiet_tensorflow()
    sys.exit(main(out=protocol_stream()))
