"""Trace speed of the serving runtime against the seed notebook's method, and memory.

The seed traces by tokenising every word prefix, padding them and calling `model.predict`;
the same weights are used for both, so the difference is the method and the runtime.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import MESSAGE_25_WORDS, percentiles_ms, time_calls
from nlp.ensemble import Servable, load_model, members_of_model
from nlp.inference import SentimentModel
from nlp.ngrams import NgramModel
from training.data import load_split


def run(model_dir: Path) -> dict[str, float]:
    model = load_model(model_dir)
    assert len(MESSAGE_25_WORDS.split()) == 25
    ours = time_calls(lambda: model.trace(MESSAGE_25_WORDS), repeats=500)
    p50, p99 = percentiles_ms(ours)
    reviews = load_split("test").texts[:5000]
    batch_msgs_per_s = _batch_throughput(model, reviews)  # before TensorFlow is imported
    breakdown = _member_breakdown(model, reviews)
    seed_predict, seed_function = _seed_methods(model)
    seed_p50, _ = percentiles_ms(time_calls(seed_predict, repeats=40))
    function_p50, _ = percentiles_ms(time_calls(seed_function, repeats=200))
    figures = {
        "trace_p50_ms": p50,
        "trace_p99_ms": p99,
        "seed_trace_p50_ms": seed_p50,
        "tf_function_trace_p50_ms": function_p50,
        "trace_speedup": seed_p50 / p50,
        "batch_msgs_per_s": batch_msgs_per_s,
        "serve_rss_mb": _serving_rss_mb(model_dir),
        "test_accuracy": float(model.metrics.get("test_accuracy", float("nan"))),
        **breakdown,
    }
    print(
        f"trace of a 25-word message: p50 {p50:.2f} ms, p99 {p99:.2f} ms (ONNX Runtime + numpy)\n"
        f"seed method (every prefix through model.predict): p50 {seed_p50:.1f} ms; "
        f"through a tf.function: {function_p50:.2f} ms -> speed-up x{seed_p50 / p50:.0f}\n"
        f"batched: {figures['batch_msgs_per_s']:.0f} messages/s; "
        f"a trace-only process: {figures['serve_rss_mb']:.0f} MB"
    )
    return figures


def _member_breakdown(model: Servable, texts: list[str]) -> dict[str, float]:
    """Where the time goes: each member's trace of the 25-word message on its own (warm
    caches, so they sum to less than the whole), and the tokenisers alone, one message
    and in batches; Kiwi's are the bound on both speed targets."""
    members = members_of_model(model)
    figures: dict[str, float] = {}
    for member in members:
        name = member.config.name
        figures[f"{name}_trace_p50_ms"] = percentiles_ms(
            time_calls(functools.partial(member.trace, MESSAGE_25_WORDS), repeats=300)
        )[0]
        if isinstance(member, SentimentModel):
            tokenizer = member.tokenizer
            figures[f"{name}_tokenize_p50_ms"] = percentiles_ms(
                time_calls(functools.partial(tokenizer.tokenize, MESSAGE_25_WORDS), repeats=300)
            )[0]
            started = time.perf_counter()
            tokenizer.tokenize_many(texts)
            figures[f"{name}_tokenize_msgs_per_s"] = len(texts) / (time.perf_counter() - started)
    print(
        "per member: "
        + ", ".join(f"{key} {value:.2f}" for key, value in figures.items() if "p50" in key)
        + "\ntokenisers in batches: "
        + ", ".join(f"{key} {value:.0f}" for key, value in figures.items() if "per_s" in key)
    )
    return figures


def _seed_methods(model: Servable):
    """The seed's prefix re-running (every member of an ensemble), with Keras `predict`
    and with a compiled tf.function, on the same weights. The n-gram member has no Keras
    form; it re-scores every prefix with its own runtime in both."""
    import tensorflow as tf

    from nlp.model import build_model, import_weights

    members = members_of_model(model)
    words = MESSAGE_25_WORDS.split()
    texts = [" ".join(words[: k + 1]) for k in range(len(words))]
    networks, ngrams = [], [m for m in members if isinstance(m, NgramModel)]
    for member in members:
        if isinstance(member, SentimentModel):
            keras_model = build_model(member.config)
            import_weights(keras_model, member.config, member.weights)
            compiled = tf.function(
                lambda x, m=keras_model: m(x, training=False), reduce_retracing=True
            )
            networks.append((member, keras_model, compiled))

    def prefixes(member: SentimentModel) -> np.ndarray:
        token_lists = [[t.text for t in member.tokenizer.tokenize(text)] for text in texts]
        return member.vocabulary.encode_padded(token_lists, member.config.max_tokens)

    def rescore_ngrams() -> None:
        for member in ngrams:
            member.trace_batch(texts)

    def with_predict() -> None:
        for member, keras_model, _ in networks:
            keras_model.predict(prefixes(member), verbose=0)
        rescore_ngrams()

    def with_function() -> None:
        for member, _, compiled in networks:
            compiled(tf.constant(prefixes(member)))
        rescore_ngrams()

    return with_predict, with_function


def _batch_throughput(model: Servable, texts: list[str], passes: int = 3) -> float:
    """Median of a few passes over the reviews: this machine's speed drifts."""
    model.trace_batch(texts[:256])
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        model.trace_batch(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return float(np.median(rates))


SERVE_ONLY = """
import json, os, sys, psutil
from pathlib import Path
from nlp.ensemble import load_model
model = load_model(Path(sys.argv[1]))
for _ in range(300):
    model.trace(sys.argv[2])
print(json.dumps({"rss_mb": psutil.Process().memory_info().rss / 1e6,
                  "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def _serving_rss_mb(model_dir: Path) -> float:
    """Resident memory of a process that only loads the model and traces."""
    completed = subprocess.run(
        [sys.executable, "-c", SERVE_ONLY, str(model_dir), MESSAGE_25_WORDS],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert not result["tensorflow_loaded"], "the serving path must not import TensorFlow"
    return float(result["rss_mb"])
