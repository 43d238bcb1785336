"""Train a sentiment model on NSMC and publish it as a new version in the registry.

    python -m training.train [--config seed|default] [--epochs N] [--limit N] [--out DIR]

Epochs are chosen by early stopping on a validation split cut from the training file; the
test file is only read once, after training, to report the version's accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from nlp.artifacts import write_model_dir
from nlp.config import CONFIGS, ModelConfig
from nlp.inference import SentimentModel
from nlp.tokenizers import Tokenizer, make_tokenizer
from nlp.vocabulary import Vocabulary
from training.config import TrainingPaths
from training.data import Corpus, DataError, load_split
from training.evaluate import evaluate
from training.registry import Registry, RegistryError
from training.tokenized import cached_tokens, tokenize_texts

VALIDATION_FRACTION = 0.1
EpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainingRequest:
    config: ModelConfig
    train: Corpus
    test: Corpus
    epochs: int | None = None  # upper bound; early stopping may stop sooner
    seed: int = 42
    extra_texts: Sequence[str] = ()  # e.g. users' corrections, added to the training part
    extra_labels: Sequence[int] = ()
    base: SentimentModel | None = None  # fine-tune from these weights and this vocabulary
    learning_rate: float | None = None  # None: the configuration's own
    note: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


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
    """Train, evaluate on test, and publish a complete version directory (not made current)."""
    started = time.time()
    config = request.base.config if request.base else request.config
    if request.learning_rate is not None:
        config = config.with_overrides(learning_rate=request.learning_rate)
    tokenizer = request.base.tokenizer if request.base else make_tokenizer(config.tokenizer)
    name = registry.new_version_name(config.name)
    with registry.staging(name) as staging:
        model, vocabulary, history = _fit(request, config, tokenizer, on_epoch)
        config = config.with_overrides(vocab_size=len(vocabulary))
        weights = _export(model)
        served = SentimentModel(config, vocabulary, weights, name, tokenizer=tokenizer)
        evaluation = evaluate(served, request.test.texts, request.test.labels, request.progress)
        metrics = {
            "version": name,
            "config": config.name,
            "test_accuracy": evaluation.accuracy,
            "test_n": evaluation.n,
            "test_precision": evaluation.precision,
            "test_recall": evaluation.recall,
            "best_val_accuracy": max(history.get("val_accuracy", [0.0])),
            "epochs_run": len(history.get("loss", [])),
            "history": history,
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
        write_model_dir(staging, config, vocabulary, weights, metrics)
        path = registry.publish(staging)
    return TrainingResult(name, path, metrics)


def _fit(
    request: TrainingRequest,
    config: ModelConfig,
    tokenizer: Tokenizer,
    on_epoch: EpochCallback | None,
):
    import keras

    from nlp.model import build_model, import_weights
    from training.batches import BucketedBatches
    from training.progress import EpochProgress

    keras.utils.set_random_seed(request.seed)
    cache_dir = TrainingPaths.from_env().cache_dir
    tokens = cached_tokens(
        tokenizer, request.train.texts, request.train.sha256, cache_dir, "tokenise train"
    )
    labels = np.asarray(request.train.labels)
    train_rows, val_rows = split_validation(len(tokens), request.seed)
    train_tokens = [tokens[i] for i in train_rows]
    train_labels = labels[train_rows]
    if request.extra_texts:
        train_tokens += tokenize_texts(tokenizer, request.extra_texts, "tokenise extra")
        train_labels = np.concatenate([train_labels, np.asarray(request.extra_labels)])
    if request.base is not None:
        vocabulary = request.base.vocabulary
    else:
        vocabulary = Vocabulary.build(train_tokens, config.vocab_size, config.min_count)
    model = build_model(config.with_overrides(vocab_size=len(vocabulary)))
    if request.base is not None:
        import_weights(model, request.base.weights)
    train_ids = [vocabulary.encode(t) for t in train_tokens]
    val_ids = [vocabulary.encode(tokens[i]) for i in val_rows]
    epochs = request.epochs or config.max_epochs
    train_batches = BucketedBatches(train_ids, train_labels, config.batch_size, request.seed)
    val_batches = BucketedBatches(val_ids, labels[val_rows], 512, request.seed, shuffle=False)
    history = model.fit(
        train_batches.dataset().repeat(),
        steps_per_epoch=len(train_batches),
        validation_data=val_batches.dataset().repeat(),
        validation_steps=len(val_batches),
        shuffle=False,  # BucketedBatches shuffles, by length bucket
        epochs=epochs,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.patience, restore_best_weights=True
            ),
            EpochProgress(epochs, len(train_batches), on_epoch, enabled=request.progress),
        ],
    )
    return model, vocabulary, {k: [float(v) for v in vs] for k, vs in history.history.items()}


def _export(model) -> dict[str, np.ndarray]:
    from nlp.model import export_weights

    return export_weights(model)


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:  # pragma: no cover - not on Linux
        return psutil.Process(os.getpid()).memory_info().rss / 1e6


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="default")
    parser.add_argument("--epochs", type=int, default=None, help="at most N epochs")
    parser.add_argument("--limit", type=int, default=None, help="only the first N training rows")
    parser.add_argument("--test-limit", type=int, default=None, help="only the first N test rows")
    parser.add_argument("--out", type=Path, default=None, help="registry directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--make-current",
        choices=("auto", "yes", "no"),
        default="auto",
        help="auto: when there is no current version or the new one is at least as accurate",
    )
    args = parser.parse_args(argv)
    for name in ("epochs", "limit", "test_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive number")
    return args


def _should_make_current(registry: Registry, new_accuracy: float, choice: str) -> bool:
    if choice != "auto":
        return choice == "yes"
    current = registry.current_name()
    if current is None:
        return True
    accuracy = registry.info(current).accuracy
    return accuracy is None or new_accuracy >= accuracy


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    registry = Registry(args.out) if args.out else Registry.from_env()
    try:
        train = load_split("train").head(args.limit)
        test = load_split("test").head(args.test_limit)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    config = CONFIGS[args.config]
    print(f"training '{config.name}' on {len(train)} reviews; testing on {len(test)}")
    request = TrainingRequest(config, train, test, epochs=args.epochs, seed=args.seed)
    try:
        result = run_training(request, registry)
    except (RegistryError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    metrics = result.metrics
    if _should_make_current(registry, metrics["test_accuracy"], args.make_current):
        registry.use(result.name)
        print(f"current version is now {result.name}")
    print(
        f"version {result.name}: test accuracy {metrics['test_accuracy']:.4f} "
        f"on {metrics['test_n']} reviews after {metrics['epochs_run']} epoch(s), "
        f"{metrics['seconds']:.0f} s, peak {metrics['peak_rss_mb']:.0f} MB"
    )
    print(f"model directory: {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
