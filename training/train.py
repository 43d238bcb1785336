"""Train a sentiment model on NSMC and publish it as a new version in the registry.

    python -m training.train [--config seed|default] [--epochs N] [--limit N] [--out DIR]
        [--role quick] [--replaces VERSION] [--events]

Epochs are chosen by early stopping on a validation split cut from the training file; the
test file is only read once, after training, to report the version's accuracy.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import psutil

from nlp.artifacts import MEMBERS_DIR, ModelLoadError, write_ensemble_dir, write_model_dir
from nlp.ensemble import Ensemble, Member, Servable, Trained, load_model, members_of_model
from nlp.inference import SentimentModel
from nlp.model_config import (
    CONFIGS,
    AnyConfig,
    EnsembleConfig,
    MemberConfig,
    ModelConfig,
    NgramConfig,
    members_of,
)
from nlp.ngrams import NgramModel
from nlp.tokenizers import PieceTokenizer, Tokenizer, make_tokenizer
from nlp.vocabulary import Vocabulary
from training.checkpoints import MemberCheckpoints, prune_stale, run_key
from training.corpora import (
    DEFAULT_MIX,
    EXTRA_REVIEWS_FILE,
    MIXES,
    LabelledRows,
    extra_rows,
    held_out_chat_texts,
)
from training.data import Corpus, DataError, load_split
from training.distill import (
    DISTILL_PLANS,
    NO_DISTILLATION,
    PLANS,
    DistillPlan,
    blended_labels,
    chat_text_keys,
    plan_variants,
    star_labels,
    starred,
    teacher_labels,
    unlabelled_texts,
    with_copies,
)
from training.evaluate import evaluate
from training.paths import TrainingPaths
from training.pieces import piece_vocabulary
from training.protocol import (
    Emit,
    EventKind,
    MakeCurrent,
    ProgressEvent,
    Stage,
    TrainCommand,
    event_writer,
    exit_when_parent_dies,
    protocol_stream,
)
from training.quiet import quiet_tensorflow
from training.registry import Registry, RegistryError
from training.tokenized import cached_tokens, tokenize_texts
from training.word_targets import WordTargets, row_token_targets, teacher_words

VALIDATION_FRACTION = 0.1
ANNEAL_EPOCHS = 2  # what --anneal-from runs unless told: the student's own decay_epochs
EpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainingRequest:
    config: AnyConfig
    train: Corpus
    test: Corpus
    epochs: int | None = None  # upper bound; early stopping may stop sooner
    seed: int = 42
    extra_texts: Sequence[str] = ()  # e.g. users' corrections, added to the training part
    extra_labels: Sequence[float] = ()  # 0/1, or a teacher's P(positive) (training.distill)
    # What the training file's rows are fitted to when not their 0/1 labels (a blend with a
    # teacher's probabilities, training.distill.blended_labels); validation reads the labels.
    train_targets: Sequence[float] | None = None
    base: Servable | None = None  # fine-tune from these weights and vocabularies
    learning_rate: float | None = None  # None: the configuration's own
    # Every epoch of this run lowers the rate towards 0 (with a base: settling a model
    # trained at a constant rate, as `STUDENT.decay_epochs` does within one run).
    anneal: bool = False
    # The teacher's verdict after each word of the training texts, fitted at the student's
    # word ends as well as its final target (training.word_targets); None: final only.
    word_targets: WordTargets | None = None
    note: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    # False: a final fit on every training row for the configuration's epochs, which were
    # chosen on the validation split (holdout runs); no validation figures are reported.
    holdout: bool = True
    # A version this exact run (the same key) already published is returned as it is: a
    # teacher or a student's stage that an interrupted run finished is not trained again.
    reuse: bool = False

    def key(self, recipe: AnyConfig) -> str:
        """What decides this run's result (training.checkpoints.run_key)."""
        parts = {
            "recipe": recipe.to_dict(),
            "train": self.train.sha256,
            "rows": len(self.train),
            "epochs": self.epochs,
            "seed": self.seed,
            "holdout": self.holdout,
        }
        if self.base is not None:
            parts["base"] = self.base.version
        if self.word_targets is not None:
            parts["word_targets"] = [self.word_targets.teacher, self.word_targets.weight]
        if self.train_targets is not None:
            parts["targets"] = hashlib.sha256(str(list(self.train_targets)).encode()).hexdigest()
        return run_key(parts, self.extra_texts, self.extra_labels)

    def targets(self) -> np.ndarray:
        """The training file's rows as they are fitted, every row (index with `rows()`)."""
        chosen = self.train.labels if self.train_targets is None else self.train_targets
        return np.asarray(chosen, dtype=np.float32)

    def fitted_texts(self) -> list[str]:
        """Every text the run fits, in the order `_fit` stacks them: the training file's
        training rows, then the extra rows."""
        train_rows, _ = self.rows()
        return [*(self.train.texts[i] for i in train_rows), *self.extra_texts]

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation rows of `train`; no validation rows without a holdout."""
        train_rows, val_rows = split_validation(len(self.train), self.seed)
        if self.holdout:
            return train_rows, val_rows
        return np.arange(len(self.train)), val_rows[:0]


@dataclass(frozen=True)
class TrainingResult:
    name: str
    path: Path
    metrics: dict[str, Any]


def split_validation(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    cut = max(1, int(count * VALIDATION_FRACTION))
    return np.sort(order[cut:]), np.sort(order[:cut])


def run_training(
    request: TrainingRequest, registry: Registry, on_epoch: EpochCallback | None = None
) -> TrainingResult:
    """Train, evaluate on test, and publish a complete version directory (not made current).

    An ensemble trains its members one after the other, each exactly like a single model
    (same split, same early stopping), then is evaluated as the average it serves.
    """
    started = time.time()
    recipe = request.base.config if request.base else request.config
    if request.learning_rate is not None:
        recipe = recipe.with_overrides(learning_rate=request.learning_rate)
    if request.anneal:
        epochs = request.epochs or ANNEAL_EPOCHS
        recipe = recipe.with_overrides(max_epochs=epochs, decay_epochs=epochs)
    key = request.key(recipe)
    if request.reuse and (published := registry.with_run_key(key)) is not None:
        print(f"{request.note.get('role', 'model')} {published.name}: from an earlier run")
        return TrainingResult(published.name, published.path, published.metrics)
    name = registry.new_version_name(recipe.name)
    bases = members_of_model(request.base) if request.base else [None] * len(members_of(recipe))
    checkpoint_root = TrainingPaths.from_env().cache_dir / "checkpoints"
    prune_stale(checkpoint_root, keep=key)
    checkpoints = MemberCheckpoints(checkpoint_root / key)
    from training.progress import RunProgress  # imports Keras: only a process that trains

    overall = RunProgress(
        [request.epochs or _planned_epochs(config) for config in members_of(recipe)],
        f"{request.note.get('role', 'model')} {name}",
        request.progress,
    )
    with registry.staging(name) as staging, overall:
        trained = []
        for index, (config, base) in enumerate(zip(members_of(recipe), bases, strict=True)):
            resumed = checkpoints.load(index, name)
            if resumed is not None:
                print(f"member {index + 1} ({config.name}): resumed from an interrupted run")
                trained.append(resumed)
                overall.member_done(index)
                continue
            report = _member_progress(overall.counting(index, on_epoch), index, len(bases))
            epochs_dir = checkpoints.epoch_backup(index)
            trained.append(_train_member(request, config, base, name, report, epochs_dir))
            checkpoints.save(index, *trained[-1])
            overall.member_done(index)
        served = assemble_model(recipe, trained, name)
        evaluation = evaluate(served, request.test.texts, request.test.labels, request.progress)
        metrics = {
            "version": name,
            "config": recipe.name,
            "test_accuracy": evaluation.accuracy,
            "test_n": evaluation.n,
            "test_precision": evaluation.precision,
            "test_recall": evaluation.recall,
            "best_val_accuracy": _validation_accuracy(request, served, trained),
            "holdout": request.holdout,
            "epochs_run": max(len(history.get("loss", [None])) for _, history in trained),
            "history": trained[0][1] if len(trained) == 1 else [h for _, h in trained],
            "train_n": len(request.train) + len(request.extra_texts),
            "extra_n": len(request.extra_texts),
            "train_sha256": request.train.sha256,
            "test_sha256": request.test.sha256,
            "fine_tuned_from": request.base.version if request.base else None,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - started, 1),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            **request.note,
        }
        metrics["run_key"] = key
        write_version(staging, served, trained, metrics)
        path = registry.publish(staging)
    checkpoints.clear()
    return TrainingResult(name, path, metrics)


def _planned_epochs(config: MemberConfig) -> int:
    return config.max_epochs if isinstance(config, ModelConfig) else 1


def _member_progress(
    on_epoch: EpochCallback | None, index: int, count: int
) -> EpochCallback | None:
    """Epoch reports of an ensemble say which member is training."""
    if on_epoch is None or count == 1:
        return on_epoch

    def report(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        on_epoch(epoch, epochs, {**logs, "member": index + 1, "members": count})

    return report


def _train_member(
    request: TrainingRequest,
    config: MemberConfig,
    base: Member | None,
    name: str,
    on_epoch: EpochCallback | None,
    backup_dir: Path,
) -> tuple[Member, dict[str, list[float]]]:
    if not isinstance(config, ModelConfig):
        return _fit_ngram(request, config, name, on_epoch)
    assert base is None or isinstance(base, SentimentModel)
    tokenizer, vocabulary = _tokens_of(request, config, base)
    model, vocabulary, history = _fit(
        request, config, tokenizer, vocabulary, base, on_epoch, backup_dir
    )
    config = config.with_overrides(vocab_size=len(vocabulary))
    member = SentimentModel(config, vocabulary, _export(model, config), name, tokenizer=tokenizer)
    return member, history


def _tokens_of(
    request: TrainingRequest, config: ModelConfig, base: SentimentModel | None
) -> tuple[Tokenizer, Vocabulary | None]:
    """The member's tokeniser, and its vocabulary where it is known before the fit: a base
    model's, or the pieces learned from this run's texts (training.pieces); None means
    `_fit` builds it from the tokens."""
    if base is not None:
        return base.tokenizer, base.vocabulary
    if config.tokenizer["name"] == PieceTokenizer.name:
        vocabulary = piece_vocabulary(request.fitted_texts(), config)
        return make_tokenizer(config.tokenizer, vocabulary.learned_tokens), vocabulary
    return make_tokenizer(config.tokenizer), None


def _fit_ngram(
    request: TrainingRequest, config: NgramConfig, name: str, on_epoch: EpochCallback | None
) -> tuple[NgramModel, dict[str, list[float]]]:
    """Always a full refit (base weights are not needed: the fit is convex), on the same
    split as the networks, plus the corrections."""
    from training.ngram_fit import fit_ngram_model

    train_rows, val_rows = request.rows()
    texts, labels, targets = request.train.texts, request.train.labels, request.targets()
    model, history = fit_ngram_model(
        config,
        [texts[i] for i in train_rows] + list(request.extra_texts),
        [float(targets[i]) for i in train_rows] + list(request.extra_labels),
        ([texts[i] for i in val_rows], [labels[i] for i in val_rows]),
        name,
        request.progress,
    )
    if on_epoch is not None:
        on_epoch(1, 1, {key: values[0] for key, values in history.items()})
    return model, history


def assemble_model(recipe: AnyConfig, trained: list[Trained], name: str) -> Servable:
    members = [member for member, _ in trained]
    if not isinstance(recipe, EnsembleConfig):
        return members[0]
    config = replace(recipe, members=tuple(member.config for member in members))
    return Ensemble(config, members, name)


def _validation_accuracy(
    request: TrainingRequest, served: Servable, trained: list[Trained]
) -> float | None:
    """A single model's best epoch; an ensemble is scored as served, on the same split."""
    if not request.holdout:
        return None
    if not isinstance(served, Ensemble):
        return _best_validation(trained[0][1])
    _, val_rows = request.rows()
    texts = [request.train.texts[i] for i in val_rows]
    labels = [request.train.labels[i] for i in val_rows]
    return evaluate(served, texts, labels, progress=False).accuracy


def write_version(
    staging: Path, served: Servable, trained: list[Trained], metrics: dict[str, Any]
) -> None:
    if not isinstance(served, Ensemble):
        write_model_dir(staging, served.config, served.vocabulary, served.weights, metrics)
        return
    for index, (member, history) in enumerate(trained):
        member_metrics = {"best_val_accuracy": _best_validation(history), "history": history}
        write_model_dir(
            staging / MEMBERS_DIR / str(index),
            member.config,
            member.vocabulary,
            member.weights,
            member_metrics,
        )
    write_ensemble_dir(staging, served.config.to_dict(), len(trained), metrics)


def _fit(
    request: TrainingRequest,
    config: ModelConfig,
    tokenizer: Tokenizer,
    vocabulary: Vocabulary | None,
    base: SentimentModel | None,
    on_epoch: EpochCallback | None,
    backup_dir: Path,
) -> tuple[Any, Vocabulary, dict[str, list[float]]]:
    """Fits one network, resuming after the last epoch that an earlier run of the same run
    key finished (training.epoch_backup keeps it in `backup_dir`)."""
    import keras

    from nlp.model import build_model, import_weights
    from training.augment import spacing_noise_for
    from training.batches import BucketedBatches
    from training.epoch_backup import EpochBackup, read_backup, resumed_seed
    from training.progress import EpochProgress

    resumed = read_backup(backup_dir)
    seed = resumed_seed(request.seed, resumed.epochs)
    keras.utils.set_random_seed(seed)
    cache_dir = TrainingPaths.from_env().cache_dir
    tokens = cached_tokens(
        tokenizer, request.train.texts, request.train.sha256, cache_dir, "tokenise train"
    )
    labels = np.asarray(request.train.labels)
    train_rows, val_rows = request.rows()
    train_tokens = [tokens[i] for i in train_rows]
    train_labels = request.targets()[train_rows]
    if request.extra_texts:
        train_tokens += tokenize_texts(tokenizer, request.extra_texts, "tokenise extra")
        train_labels = np.concatenate([train_labels, np.asarray(request.extra_labels)])
    if vocabulary is None:
        vocabulary = Vocabulary.build(train_tokens, config.vocab_size, config.min_count)
    train_ids = [vocabulary.encode(t) for t in train_tokens]
    val_ids = [vocabulary.encode(tokens[i]) for i in val_rows]
    epochs = request.epochs or config.max_epochs
    noise = spacing_noise_for(config, vocabulary.index.get(" "), seed)
    per_word = _per_word(request, tokenizer, train_ids)
    train_batches = BucketedBatches(
        train_ids,
        train_labels,
        config.batch_size,
        seed,
        augment=noise,
        word_targets=per_word,
        word_weight=request.word_targets.weight if request.word_targets else 0.0,
    )
    model = build_model(
        config.with_overrides(vocab_size=len(vocabulary)),
        len(train_batches),
        word_targets=per_word is not None,
    )
    if base is not None:
        import_weights(model, config, base.weights)
    callbacks: list[Any] = [EpochProgress(epochs, len(train_batches), on_epoch, request.progress)]
    validation: dict[str, Any] = {}
    stopping = None
    if request.holdout:
        val_batches = BucketedBatches(
            val_ids,
            labels[val_rows],
            512,
            request.seed,
            shuffle=False,
            word_targets=None if per_word is None else [np.empty(0)] * len(val_ids),
        )
        validation = {
            "validation_data": val_batches.dataset().repeat(),
            "validation_steps": len(val_batches),
        }
        stopping = early_stopping(config)
        callbacks.insert(0, stopping)
    backup = EpochBackup(backup_dir, resumed, stopping)  # after the stopping: see its docstring
    resumed = backup.restore(model)
    callbacks.append(backup)
    if resumed.epochs:
        print(f"{config.name}: resumed after epoch {resumed.epochs} of {epochs}")
    model.fit(
        train_batches.dataset().repeat(),
        steps_per_epoch=len(train_batches),
        shuffle=False,  # BucketedBatches shuffles, by length bucket
        epochs=epochs,
        initial_epoch=epochs if resumed.stopped else min(resumed.epochs, epochs),
        verbose=0,
        callbacks=callbacks,
        **validation,
    )
    return model, vocabulary, backup.history  # fit's own holds only this run's epochs


def early_stopping(config: ModelConfig) -> Any:
    """Stops on validation accuracy and keeps the best epoch's weights. At a constant rate
    validation wobbles (the 482k-review student fell from 0.8737 to 0.8675 at epoch 3 and
    was stopped before its annealed epochs, which add ~0.5 points): a run whose rate
    anneals is judged on them, all of them (`ModelConfig.stopping_patience`)."""
    import keras

    return keras.callbacks.EarlyStopping(
        monitor="val_accuracy",
        mode="max",
        patience=config.stopping_patience,
        restore_best_weights=True,
        start_from_epoch=config.first_annealed_epoch,
    )


def _per_word(
    request: TrainingRequest, tokenizer: Tokenizer, train_ids: list[list[int]]
) -> list[np.ndarray] | None:
    """Each fitted row's per-token targets (training.word_targets), in `train_ids`' order."""
    if request.word_targets is None:
        return None
    texts = request.fitted_texts()
    rows = row_token_targets(tokenizer, texts, request.word_targets.words, request.progress)
    if any(len(row) != len(ids) for row, ids in zip(rows, train_ids, strict=True)):
        raise ValueError("the word targets' tokens differ from the fitted tokens")
    return rows


def _best_validation(history: dict[str, list[float]]) -> float | None:
    return max(history["val_accuracy"]) if history.get("val_accuracy") else None


def _export(model: Any, config: ModelConfig) -> dict[str, np.ndarray]:
    from nlp.model import export_weights

    return export_weights(model, config)


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:  # pragma: no cover - not on Linux
        return psutil.Process(os.getpid()).memory_info().rss / 1e6


def _should_make_current(registry: Registry, new_accuracy: float, choice: str) -> bool:
    if choice != "auto":
        return choice == "yes"
    current = registry.current_name()
    if current is None:
        return True
    accuracy = registry.info(current).accuracy
    return accuracy is None or new_accuracy >= accuracy


class TrainingFailure(Exception):
    """A run that cannot start or finish (no data, an unusable teacher or base, a registry
    that refuses); the message is the one line a person reads."""


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = TrainCommand.parse(argv, description=__doc__)
    quiet_tensorflow()
    if args.watch_stdin:
        exit_when_parent_dies()
    emit = event_writer(out or protocol_stream()) if args.events else None
    registry = Registry(args.out) if args.out else Registry.from_env()
    try:
        result = train_version(args, registry, emit)
    except TrainingFailure as error:
        return _fail(emit, str(error))
    offer_as_current(registry, result, args.make_current)
    if emit is not None:
        emit(ProgressEvent(EventKind.DONE, status="published", candidate_version=result.name))
    return 0


def train_version(
    args: TrainCommand, registry: Registry, emit: Emit | None = None, reuse: bool = False
) -> TrainingResult:
    """One run of `python -m training.train` as `args` asks, published (not made current).
    With `reuse`, a version this exact run already published is returned instead of
    training it again (training.student_stages resumes that way)."""
    paths = TrainingPaths.from_env()
    mix = MIXES[args.data] if args.data else DEFAULT_MIX
    config = CONFIGS[args.config]
    plan = PLANS[args.distill] if args.distill else DISTILL_PLANS.get(config.name, NO_DISTILLATION)
    if args.teacher and plan == NO_DISTILLATION:
        raise TrainingFailure(_UNUSED_TEACHER.format(teacher=args.teacher, config=config.name))
    try:
        teacher_dir = resolve_teacher(args.teacher, registry) if args.teacher else None
    except RegistryError as error:
        raise TrainingFailure(str(error)) from error
    try:
        full_train = load_split("train", paths)
        train = full_train.head(args.limit)
        test = load_split("test", paths).head(args.test_limit)
        full_test = test if args.test_limit is None else load_split("test", paths)
        held_out = full_test.texts + held_out_chat_texts()
        extra = extra_rows(mix, paths.nsmc_dir, paths.chat_dir, held_out, args.data is not None)
        if args.limit is not None:
            extra = extra.share(len(train) / len(full_train))
    except DataError as error:
        raise TrainingFailure(str(error)) from error
    print(
        f"training '{config.name}' on {len(train)} reviews + {len(extra)} rows of "
        f"'{mix.name}'; testing on {len(test)}"
    )
    note: dict[str, Any] = {"data": {"mix": mix.name, "rows": extra.counts()}}
    note.update(
        {key: value for key, value in (("role", args.role), ("replaces", args.replaces)) if value}
    )
    texts, variants = _distillation_texts(plan, paths, held_out, extra, full_train, len(train))
    if plan != NO_DISTILLATION and not texts:
        print("nothing to distil on here: training without a teacher", file=sys.stderr)
    try:
        base = load_model(args.anneal_from) if args.anneal_from else None
    except (ModelLoadError, OSError) as error:
        raise TrainingFailure(str(error)) from error
    request = TrainingRequest(
        config,
        train,
        test,
        epochs=args.epochs,
        seed=args.seed,
        holdout=not args.no_holdout,
        extra_texts=list(extra.texts),
        extra_labels=list(extra.labels),
        base=base,
        anneal=base is not None,
        note=note,
        reuse=reuse,
    )
    if texts:
        try:
            teacher = (
                load_model(teacher_dir)
                if teacher_dir
                else _teacher(request, registry, _epoch_events(emit, config))
            )
        except (RegistryError, ModelLoadError, OSError) as error:
            raise TrainingFailure(str(error)) from error
        request = distilled(request, plan, teacher, texts, variants)
    if plan.chat_copies > 1:
        request = _with_chat_copies(request, chat_text_keys(extra, paths.chat_dir, plan), plan)
    if emit is not None:
        emit(ProgressEvent(EventKind.STAGE, Stage.TRAINING))
    try:
        result = run_training(request, registry, _epoch_events(emit, config))
    except (RegistryError, OSError) as error:
        raise TrainingFailure(str(error)) from error
    metrics = result.metrics
    print(
        f"version {result.name}: test accuracy {metrics['test_accuracy']:.4f} "
        f"on {metrics['test_n']} reviews after {metrics['epochs_run']} epoch(s), "
        f"{metrics['seconds']:.0f} s, peak {metrics['peak_rss_mb']:.0f} MB"
    )
    print(f"model directory: {result.path}")
    return result


def offer_as_current(registry: Registry, result: TrainingResult, choice: MakeCurrent) -> None:
    """Serve the new version if `--make-current` says so (auto: when nothing is served or
    it is at least as accurate as what is)."""
    if _should_make_current(registry, result.metrics["test_accuracy"], choice):
        registry.use(result.name)
        print(f"current version is now {result.name}")


def _distillation_texts(
    plan: DistillPlan,
    paths: TrainingPaths,
    held_out: list[str],
    extra: LabelledRows,
    full_train: Corpus,
    rows: int,
) -> tuple[list[str], int]:
    """The plan's unlabelled texts and then its variants (how many, the second value), each
    cut to the run's share of the training file (`rows` of it)."""
    if plan == NO_DISTILLATION:
        return [], 0
    share = rows / len(full_train)
    texts = unlabelled_texts(plan, paths.nsmc_dir, paths.chat_dir, held_out + extra.texts)
    texts = texts[:: max(1, round(1 / share))]
    if not plan.variants:
        return texts, 0
    excluded = [*held_out, *full_train.texts, *extra.texts]
    per_kind = max(1, round(plan.variants * share))
    variants = plan_variants(texts, extra, paths.chat_dir, plan, per_kind, excluded)
    return texts + variants, len(variants)


# A teacher with nothing to label would be ignored and the run silently undistilled.
_UNUSED_TEACHER = (
    "--teacher {teacher} would label nothing: the run's plan is 'none' (configuration "
    "{config!r} has no default in training.distill.DISTILL_PLANS); name one with --distill, "
    "e.g. student+variants"
)


def resolve_teacher(teacher: str, registry: Registry) -> Path:
    """``current`` is the served version: what `make train-student` distils from. A quick
    stand-in (a fresh install's first minutes) is refused: hours of distilling it would
    give a student of a model fitted in a minute."""
    if teacher != "current":
        if not Path(teacher).is_dir():  # said before the data is read, not a minute later
            raise RegistryError(f"model directory {teacher} does not exist")
        return Path(teacher)
    served = registry.current_dir()
    if registry.info(served.name).is_quick:
        raise RegistryError(
            f"the served version {served.name} is the quick stand-in the first run trains "
            "while the full model does; wait for that one (or run `make train`), or name a "
            "teacher with --teacher VERSION_DIR"
        )
    return served


def _teacher(
    request: TrainingRequest, registry: Registry, on_epoch: EpochCallback | None
) -> Servable:
    """The ensemble trained on the labelled rows alone, published as a version of its own
    (it can be served or rolled back to like any other); a teacher that an interrupted run
    already finished is reused."""
    print("teacher: the ensemble on the labelled rows first")
    teacher_request = replace(request, note={**request.note, "role": "teacher"}, reuse=True)
    result = run_training(teacher_request, registry, on_epoch)
    return load_model(result.path, result.name)


def distilled(
    request: TrainingRequest,
    plan: DistillPlan,
    teacher: Servable,
    texts: list[str],
    variants: int = 0,
) -> TrainingRequest:
    """`request` plus `texts` with the teacher's probabilities as their labels, and its
    labelled rows blended with them where the plan says so; the last `variants` of the
    texts are chat-like variants (training.text_variants), counted in the version's note."""
    if plan.labelled_weight:
        request = _blended(request, teacher, plan.labelled_weight)
    paths = TrainingPaths.from_env()
    soft = teacher_labels(teacher, texts, request.progress, paths.cache_dir)
    reviews = paths.nsmc_dir / EXTRA_REVIEWS_FILE if paths.nsmc_dir else None
    if plan.stars and reviews and reviews.is_file():
        soft = starred(soft, star_labels(reviews), plan.labelled_weight)
    note = dict(request.note)
    note["data"] = {
        **note.get("data", {}),
        "distilled": {
            "plan": plan.name,
            "teacher": teacher.version,
            "rows": len(soft.texts),
            "mean_probability": round(float(np.mean(soft.probabilities or [0.5])), 4),
            "labelled_weight": plan.labelled_weight,
            "stars": plan.stars,
            "word_weight": plan.word_weight,
            "variants": variants,
        },
    }
    request = replace(
        request,
        extra_texts=[*request.extra_texts, *soft.texts],
        extra_labels=[*request.extra_labels, *soft.probabilities],
        note=note,
    )
    if plan.word_weight:
        request = replace(request, word_targets=_word_targets(request, teacher, plan.word_weight))
    return request


def _word_targets(request: TrainingRequest, teacher: Servable, weight: float) -> WordTargets:
    """The teacher's traces of every text the run fits (not of validation rows)."""
    cache_dir = TrainingPaths.from_env().cache_dir
    words = teacher_words(teacher, request.fitted_texts(), request.progress, cache_dir)
    return WordTargets(teacher.version, weight, words)


def _with_chat_copies(
    request: TrainingRequest, keys: set[str], plan: DistillPlan
) -> TrainingRequest:
    """The extra rows with every chat-like one repeated as the plan asks; NSMC's rows are
    reviews and stay as they are."""
    texts, labels = with_copies(request.extra_texts, request.extra_labels, keys, plan.chat_copies)
    note = dict(request.note)
    note["data"] = {**note.get("data", {}), "chat_copies": plan.chat_copies}
    return replace(request, extra_texts=texts, extra_labels=labels, note=note)


def _blended(request: TrainingRequest, teacher: Servable, weight: float) -> TrainingRequest:
    """The training rows' and the extra rows' labels moved towards the teacher's view;
    validation rows are left out (the teacher is not asked about them) and keep theirs."""
    train_rows, _ = request.rows()
    texts = [request.train.texts[i] for i in train_rows]
    labels = [float(request.train.labels[i]) for i in train_rows]
    blended = blended_labels(
        teacher,
        [*texts, *request.extra_texts],
        [*labels, *request.extra_labels],
        weight,
        request.progress,
        TrainingPaths.from_env().cache_dir,
    )
    targets = [float(label) for label in request.train.labels]
    for row, target in zip(train_rows, blended[: len(texts)], strict=True):
        targets[row] = target
    return replace(request, train_targets=targets, extra_labels=blended[len(texts) :])


def _epoch_events(emit: Emit | None, config: AnyConfig) -> EpochCallback | None:
    """Each epoch of each member as an EPOCH event, named, for the parent's progress bar."""
    if emit is None:
        return None
    names = [member.name for member in members_of(config)]

    def on_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        member = int(logs.get("member", 1))
        emit(
            ProgressEvent(
                EventKind.EPOCH,
                Stage.TRAINING,
                member=member,
                members=len(names),
                member_name=names[member - 1],
                loss=logs.get("loss"),
                epoch=epoch,
                epochs=epochs,
            )
        )

    return on_epoch


def _fail(emit: Emit | None, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    if emit is not None:
        emit(ProgressEvent(EventKind.ERROR, status="failed", error=message))
    return 1


if __name__ == "__main__":
    sys.exit(main())
