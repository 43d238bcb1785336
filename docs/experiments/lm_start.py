"""A network's embedding and recurrent layer pretrained as a next-token model, then fitted
as usual (ULMFiT-style; docs/results.md, "A language model as a start": measured, not kept).

    PYTHONPATH=. NSMC_DIR=... CHAT_DATA_DIR=... python docs/experiments/lm_start.py --member kiwi \
        [--lm-vocab 4000] [--fine-rate 1e-3] -- --config kiwi --data nsmc --distill none

The arguments after `--` go to `python -m training.train`. The language model reads
NSMC's training part (the validation split left out), every extra review and Chatbot_data
(`training.distill.STUDENT_PLAN`'s texts; test and chat-set texts are never among them),
encoded with the vocabulary the fit builds, and predicts each next token among the
`--lm-vocab` most frequent (the rest as one "unknown" class). Its weights are kept in
`--save-dir`, keyed by the vocabulary and configuration, so a second fit reuses them.

An experiment, not the product: it patches `Vocabulary.build` (to see the vocabulary) and
`nlp.model.build_model` (to start the classifier from the language model).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import nlp.model
from nlp.model_config import ModelConfig
from nlp.tokenizers import make_tokenizer
from nlp.vocabulary import OOV_ID, Vocabulary
from training.batches import ROUND_TO
from training.corpora import held_out_chat_texts, text_key
from training.data import load_split
from training.distill import STUDENT_PLAN, unlabelled_texts
from training.paths import TrainingPaths
from training.tokenized import cached_tokens

LOG_EVERY = 500  # batches


def parse() -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--member", default="kiwi", help="the configuration to start: kiwi …")
    parser.add_argument("--lm-vocab", type=int, default=4000, help="next tokens predicted")
    parser.add_argument("--lm-epochs", type=int, default=1)
    parser.add_argument("--lm-batch", type=int, default=128)
    parser.add_argument("--lm-rate", type=float, default=2e-3)
    parser.add_argument("--fine-rate", type=float, default=None, help="the fit's rate")
    parser.add_argument("--lm-texts", type=int, default=None, help="only the first N (a trial)")
    parser.add_argument("--save-dir", type=Path, default=Path("var/lm-start"))
    args, rest = parser.parse_known_args()
    return args, [arg for arg in rest if arg != "--"]


def corpus(seed: int = 42) -> list[str]:
    """Every text there is to read, minus the validation split, test and chat sets."""
    from training.train import split_validation

    paths = TrainingPaths.from_env()
    train = load_split("train")
    train_rows, val_rows = split_validation(len(train), seed)
    held_out = load_split("test").texts + held_out_chat_texts() + [train.texts[i] for i in val_rows]
    extra = unlabelled_texts(STUDENT_PLAN, paths.nsmc_dir, paths.chat_dir, held_out)
    seen = {text_key(text) for text in held_out}
    nsmc = [train.texts[i] for i in train_rows if text_key(train.texts[i]) not in seen]
    return nsmc + extra


def next_token_batches(
    id_lists: list[list[int]], batch_size: int, predicted: int, seed: int
) -> tuple[Any, int]:
    """(inputs, next tokens, weights) batches of similar lengths, reshuffled every pass."""
    import tensorflow as tf

    lengths = np.array([len(ids) - 1 for ids in id_lists])
    rng = np.random.default_rng(seed)
    span = batch_size * 50

    def plan() -> list[np.ndarray]:
        order = rng.permutation(len(id_lists))
        batches: list[np.ndarray] = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches.extend(np.array_split(chunk, -(-len(chunk) // batch_size)))
        rng.shuffle(batches)
        return batches

    def generate() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for rows in plan():
            width = int(-(-lengths[rows].max() // ROUND_TO) * ROUND_TO)
            inputs = np.zeros((len(rows), width), np.int32)
            targets = np.zeros((len(rows), width), np.int32)
            for position, row in enumerate(rows):
                ids = np.asarray(id_lists[row], np.int32)
                inputs[position, : len(ids) - 1] = ids[:-1]
                targets[position, : len(ids) - 1] = np.where(ids[1:] < predicted, ids[1:], OOV_ID)
            yield inputs, targets, (inputs > 0).astype(np.float32)

    signature = (
        tf.TensorSpec((None, None), tf.int32),
        tf.TensorSpec((None, None), tf.int32),
        tf.TensorSpec((None, None), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset.prefetch(2), len(plan())


def pretrain(
    config: ModelConfig, vocabulary: Vocabulary, args: argparse.Namespace
) -> dict[str, list[np.ndarray]]:
    """The language model's embedding and recurrent weights, from disk when already made."""
    import keras
    from keras import layers

    key = hashlib.sha256(
        f"{vocabulary.tokens}{args.lm_vocab}{args.lm_epochs}{config}".encode()
    ).hexdigest()[:12]
    saved = args.save_dir / f"{config.name}-{key}.npz"
    if saved.is_file():
        arrays = np.load(saved)
        recurrent = [arrays[f"recurrent_{i}"] for i in range(len(arrays.files) - 1)]
        return {"embedding": [arrays["embedding"]], "recurrent": recurrent}
    started = time.time()
    texts = corpus()[: args.lm_texts]
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    tokens = cached_tokens(
        make_tokenizer(config.tokenizer), texts, digest, TrainingPaths.from_env().cache_dir, "lm"
    )
    id_lists = [vocabulary.encode(t[: config.max_tokens]) for t in tokens]
    id_lists = [ids for ids in id_lists if len(ids) >= 2]
    print(f"language model: {len(id_lists)} texts, {sum(map(len, id_lists))} tokens", flush=True)

    token_ids = keras.Input(shape=(None,), dtype="int32")
    embedded = layers.Embedding(
        config.vocab_size, config.embedding_dim, mask_zero=True, name="embedding"
    )(token_ids)
    recurrent = {"lstm": layers.LSTM, "gru": layers.GRU}[config.cell]
    states = recurrent(config.units, return_sequences=True, name="recurrent")(embedded)
    logits = layers.Dense(args.lm_vocab, name="next_token")(layers.Dropout(0.2)(states))
    model = keras.Model(token_ids, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(args.lm_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    batches, steps = next_token_batches(id_lists, args.lm_batch, args.lm_vocab, seed=42)

    def report(batch: int, logs: dict[str, float]) -> None:
        if batch % LOG_EVERY == 0:
            print(f"batch {batch}/{steps}: loss {logs['loss']:.3f}", flush=True)

    log = keras.callbacks.LambdaCallback(on_train_batch_end=report)
    model.fit(
        batches.repeat(), steps_per_epoch=steps, epochs=args.lm_epochs, verbose=0, callbacks=[log]
    )
    weights = {
        "embedding": model.get_layer("embedding").get_weights(),
        "recurrent": model.get_layer("recurrent").get_weights(),
    }
    saved.parent.mkdir(parents=True, exist_ok=True)
    layers_saved = {f"recurrent_{i}": array for i, array in enumerate(weights["recurrent"])}
    np.savez(saved, embedding=weights["embedding"][0], **layers_saved)
    print(f"language model: {time.time() - started:.0f} s, kept in {saved}", flush=True)
    return weights


def patch_training(args: argparse.Namespace) -> None:
    seen: dict[str, Vocabulary] = {}
    build_vocabulary = Vocabulary.build.__func__  # type: ignore[attr-defined]
    build_model = nlp.model.build_model

    def vocabulary_seen(cls: type[Vocabulary], *given: Any, **options: Any) -> Vocabulary:
        seen["last"] = build_vocabulary(cls, *given, **options)
        return seen["last"]

    def started_model(config: ModelConfig, steps_per_epoch: int | None = None) -> Any:
        fitted = config
        if config.name == args.member and args.fine_rate:
            fitted = config.with_overrides(learning_rate=args.fine_rate)
        model = build_model(fitted, steps_per_epoch)
        if config.name == args.member:
            weights = pretrain(config, seen["last"], args)
            model.get_layer("embedding").set_weights(weights["embedding"])
            model.get_layer("recurrent").set_weights(weights["recurrent"])
        return model

    Vocabulary.build = classmethod(vocabulary_seen)  # type: ignore[method-assign,assignment]
    nlp.model.build_model = started_model


if __name__ == "__main__":
    options, training_args = parse()
    patch_training(options)
    from training.train import main

    sys.exit(main(training_args))
