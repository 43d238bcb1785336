"""The one-pass trace must equal the seed's method: re-running the model on every prefix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nlp.inference import SentimentModel, _running_max
from nlp.model_config import (
    KIWI,
    SEED,
    STUDENT,
    STUDENT_LSTM,
    STUDENT_PIECES,
    STUDENT_PIECES_DEEP,
    SYLLABLE,
    ModelConfig,
)
from nlp.trace import Trace
from nlp.vocabulary import Vocabulary

SENTENCE = "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다"
# Random Keras models: importing TensorFlow alone takes seconds, so not in make test-fast.
KERAS = pytest.mark.slow


def _random_model(config: ModelConfig, seed: int = 7) -> tuple[SentimentModel, Any]:
    """A Keras model with random weights, exported to the serving runtime."""
    import keras

    from nlp.model import build_model, export_weights

    keras.utils.set_random_seed(seed)
    vocabulary = Vocabulary(("<pad>", "<oov>", *[f"t{i}" for i in range(298)]))
    config = config.with_overrides(vocab_size=len(vocabulary))
    keras_model = build_model(config)
    return SentimentModel(
        config, vocabulary, export_weights(keras_model, config), "random"
    ), keras_model


def _keras_on_prefixes(keras_model, ids: list[int]) -> np.ndarray:
    """The seed's method: pad every prefix after the text and run the model on all of them."""
    prefixes = np.zeros((len(ids), len(ids)), dtype=np.int32)
    for length in range(1, len(ids) + 1):
        prefixes[length - 1, :length] = ids[:length]
    return np.asarray(keras_model(prefixes, training=False))[:, 1]


@KERAS
@pytest.mark.parametrize(
    "config",
    [
        KIWI,
        SEED,
        KIWI.with_overrides(name="gru", cell="gru"),
        STUDENT_PIECES_DEEP.with_overrides(units=24, embedding_dim=16),
        KIWI.with_overrides(units=24, embedding_dim=16, recurrent_layers=3),
    ],
    ids=["default-lstm", "seed", "gru", "two-gru-layers", "three-lstm-layers"],
)
def test_one_pass_equals_prefix_rerun(config):
    model, keras_model = _random_model(config)
    rng = np.random.default_rng(3)
    for length in (1, 5, 25, 40):
        ids = rng.integers(1, len(model.vocabulary), size=length).tolist()
        expected = _keras_on_prefixes(keras_model, ids)
        alone = model.positive_per_token([ids])[0]
        in_batch = model.positive_per_token([ids, ids[:1]])[0]  # padded after the text
        np.testing.assert_allclose(alone, expected, atol=1e-5)
        np.testing.assert_allclose(in_batch, expected, atol=1e-5)


@KERAS
@pytest.mark.parametrize("config", [KIWI, STUDENT_PIECES_DEEP.with_overrides(units=24)])
def test_the_keras_model_reads_padding_after_a_text_as_nothing(config):
    """The recurrent layers run through the padding unmasked (nlp.model.LastStep): a text
    padded to any width gives the same verdict, and a text with no token reads the zero
    state and no maximum, as a masked layer did."""
    model, keras_model = _random_model(config)
    ids = np.random.default_rng(5).integers(1, len(model.vocabulary), size=(1, 9))
    padded = [np.pad(ids, ((0, 0), (0, width - 9))) for width in (9, 16, 48)]
    verdicts = [np.asarray(keras_model(rows, training=False))[0] for rows in padded]
    np.testing.assert_allclose(verdicts[1:], [verdicts[0]] * 2, atol=1e-6)
    served = model.positive_per_token(ids.tolist())[0][-1]
    assert verdicts[0][1] == pytest.approx(served, abs=1e-5)
    units = np.zeros(config.units)
    features = np.concatenate([units, units - 1e9]) if config.max_pool else units
    logits = features @ model.weights["dense_kernel"] + model.weights["dense_bias"]
    no_token = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    empty = np.asarray(keras_model(np.zeros((1, 8), dtype=np.int32), training=False))[0]
    np.testing.assert_allclose(empty, no_token, atol=1e-6)


@pytest.mark.parametrize("steps", [1, 2, 3, 8, 69, 150])
@pytest.mark.parametrize("batch", [1, 5])
def test_the_running_max_is_the_max_so_far_at_every_step(steps, batch):
    """Both ways of computing it (one message by doubling shifts, a group step by step)."""
    states = np.random.default_rng(steps).normal(size=(steps, batch, 16)).astype(np.float32)
    assert np.array_equal(_running_max(states), np.maximum.accumulate(states, axis=0))


def test_batched_trace_equals_single_traces(trained_model):
    texts = [SENTENCE, "최고", "배우 연기가 정말 좋았어요 강추", "", "ㅋㅋㅋ"]
    batched = trained_model.trace_batch(texts)
    for text, trace in zip(texts, batched, strict=True):
        single = trained_model.trace(text)
        assert trace.words == single.words
        np.testing.assert_allclose(trace.probabilities, single.probabilities, atol=1e-6)


def test_trained_model_trace_matches_keras_on_word_prefixes(trained_model):
    """Word by word: the value shown after word k is the Keras model's output on the tokens
    up to the end of word k."""
    from nlp.model import build_model, import_weights

    keras_model = build_model(trained_model.config)
    import_weights(keras_model, trained_model.config, trained_model.weights)
    tokens = trained_model.tokenizer.tokenize(SENTENCE)
    ids = trained_model.vocabulary.encode([t.text for t in tokens])
    per_token = _keras_on_prefixes(keras_model, ids)
    last_of_word = {t.word: i for i, t in enumerate(tokens)}
    expected = [per_token[last_of_word[w]] for w in sorted(last_of_word)]
    trace = trained_model.trace(SENTENCE)
    assert trace.words == tuple(SENTENCE.split())
    np.testing.assert_allclose(trace.probabilities, expected, atol=1e-5)
    assert trace.positive == pytest.approx(trace.probabilities[-1])


def _model_reading(config, tokens) -> SentimentModel:
    """A random model of `config` whose vocabulary is exactly `tokens`."""
    model, _ = _random_model(config)
    vocabulary = Vocabulary(("<pad>", "<oov>", *tokens))
    return SentimentModel(
        model.config.with_overrides(vocab_size=len(vocabulary)),
        vocabulary,
        {**model.weights, "embedding": model.weights["embedding"][: len(vocabulary)]},
        "random",
    )


def _assert_word_prefixes_rerun(model: SentimentModel, text: str) -> Trace:
    words = text.split()
    trace = model.trace(text)
    rerun = [model.trace(" ".join(words[: k + 1])).positive for k in range(len(words))]
    np.testing.assert_allclose(trace.probabilities, rerun, atol=1e-5)
    return trace


@KERAS
def test_seed_config_word_prefixes_rerun_end_to_end():
    """With the seed tokeniser (context-free words), re-tracing each word prefix of the text
    gives the same numbers as the single pass."""
    model = _model_reading(SEED, SENTENCE.replace(".", "").split())
    _assert_word_prefixes_rerun(model, SENTENCE)


@KERAS
def test_syllable_config_word_prefixes_rerun_end_to_end():
    """The syllable member reads characters, which need no context either: re-tracing each
    word prefix of the text gives the single pass's numbers, emoji included."""
    text = SENTENCE + " 😀"
    model = _model_reading(SYLLABLE, sorted(set(text.replace(" ", ""))))
    trace = _assert_word_prefixes_rerun(model, text)
    assert trace.words == tuple(text.split())


@KERAS
def test_spaced_student_word_prefixes_rerun_end_to_end():
    """The previous student (`student-lstm`) reads a space before each word; the space
    belongs to the word it starts, so the trace after a word has not read the next one:
    re-tracing every word prefix gives the single pass's numbers."""
    text = SENTENCE + " 😀"
    model = _model_reading(STUDENT_LSTM, [" ", *sorted(set(text.replace(" ", "")))])
    trace = _assert_word_prefixes_rerun(model, text)
    assert trace.words == tuple(text.split())
    assert model.tokenizer.tokenize("좋 아")[1].text == " "


@KERAS
def test_student_word_prefixes_rerun_end_to_end():
    """The served student marks word starts (``▁좋``): a word's first token is known from
    the word alone, so the trace stays exact: every word prefix re-traced gives the single
    pass's numbers."""
    text = SENTENCE + " 😀"
    words = text.split()
    starts = sorted({"▁" + word[0] for word in words})
    model = _model_reading(STUDENT, [*starts, *sorted(set(text.replace(" ", "")))])
    trace = _assert_word_prefixes_rerun(model, text)
    assert trace.words == tuple(words)
    assert [token.text for token in model.tokenizer.tokenize("좋 아요")] == ["▁좋", "▁아", "요"]


@KERAS
def test_piece_student_word_prefixes_rerun_end_to_end():
    """The piece student reads words as pieces (``▁재미있`` ``을``) that never cross a space,
    so the trace after a word has not read the next one: every word prefix re-traced gives
    the single pass's numbers, a word no piece covers (the emoji) included."""
    text = SENTENCE + " 😀"
    pieces = ["▁재미", "있을", "▁줄", "▁알았", "는데", "▁완전", "▁실망", "했다", "▁너무", "졸"]
    model = _model_reading(STUDENT_PIECES, pieces)
    trace = _assert_word_prefixes_rerun(model, text)
    assert trace.words == tuple(text.split())
    assert [token.text for token in model.tokenizer.tokenize("재미있을 줄")] == [
        "▁재미",
        "있을",
        "▁줄",
    ]


def test_serving_process_never_imports_tensorflow(trained_registry):
    """The bot's memory budget rests on this: a fresh process that loads the current
    version and traces leaves TensorFlow unimported (the networks run in ONNX Runtime)."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys\nfrom pathlib import Path\n"
        "from training.registry import Registry\n"
        "model = Registry(Path(sys.argv[1])).load_current()\n"
        "trace = model.trace(sys.argv[2])\n"
        "print(json.dumps({'words': len(trace.words), 'modules': sorted(\n"
        "    m for m in ('tensorflow', 'keras', 'onnxruntime') if m in sys.modules)}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(trained_registry.root), SENTENCE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {"words": len(SENTENCE.split()), "modules": ["onnxruntime"]}


def test_a_big_batch_runs_on_both_cores_and_equals_one_thread(trained_model, monkeypatch):
    """A batch of at least MIN_SPLIT messages is cut in parts traced on the batch pool's
    threads (nlp.batch_threads); the traces are those of one thread, in order. A live
    micro-batch stays on the calling thread."""
    import threading

    from nlp import batch_threads

    texts = [f"{SENTENCE} {n}" if n % 3 else "최고 ㅋㅋ" for n in range(batch_threads.MIN_SPLIT)]
    texts[5] = ""
    threads: list[str] = []
    here = trained_model.trace_batch_here

    def recording(part):
        threads.append(threading.current_thread().name)
        return here(part)

    monkeypatch.setattr(trained_model, "trace_batch_here", recording)
    split = trained_model.trace_batch(texts)
    assert len(threads) == batch_threads.BATCH_THREADS
    assert all(name.startswith("batch") for name in threads)
    alone = here(texts)
    assert [t.words for t in split] == [t.words for t in alone]
    np.testing.assert_allclose(
        [p for t in split for p in t.probabilities],
        [p for t in alone for p in t.probabilities],
        atol=1e-6,  # other groups, other summation order
    )
    assert split[5].is_empty and split[5].text == ""
    threads.clear()
    trained_model.trace_batch(texts[:64])
    assert threads == [threading.current_thread().name]
    threads.clear()  # queued on the pool (an import's batches): the same traces
    assert trained_model.submit_batch(texts).result(timeout=60) == split
    small = trained_model.submit_batch(texts[:64]).result(timeout=60)
    assert [t.words for t in small] == [t.words for t in alone[:64]]
    np.testing.assert_allclose(
        [p for t in small for p in t.probabilities],
        [p for t in alone[:64] for p in t.probabilities],
        atol=1e-6,
    )
    assert len(threads) == batch_threads.BATCH_THREADS + 1
    assert all(name.startswith("batch") for name in threads)
