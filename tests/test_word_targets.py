"""Distilling the teacher's trace (training.word_targets): the targets land on the student's
word ends, the batches weigh them as documented, and the per-step network that fits them is
the served network, step for step."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nlp.ensemble import Servable, load_model
from nlp.inference import SentimentModel
from nlp.model_config import STUDENT
from nlp.vocabulary import Vocabulary
from training.batches import BucketedBatches
from training.data import load_split
from training.registry import Registry
from training.train import TrainingRequest, run_training
from training.word_targets import WORDS_CACHE, WordTargets, teacher_words, token_targets

NAN = np.nan


def test_each_word_end_but_the_last_gets_the_teachers_latest_verdict() -> None:
    # Tokens of words 0,0 | 1,1,1 | 2 | 3,3; the teacher read words 0, 2 and 3.
    words = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    targets = token_targets(words, np.array([0, 2, 3]), np.array([0.2, 0.6, 0.9]))
    expected = [NAN, 0.2, NAN, NAN, 0.2, 0.6, NAN, NAN]  # word 1 holds word 0's verdict
    np.testing.assert_allclose(targets, np.array(expected, dtype=np.float32))


def test_no_targets_before_the_teacher_reads_or_without_its_trace() -> None:
    words = np.array([0, 1, 2])
    late = token_targets(words, np.array([1]), np.array([0.7]))
    np.testing.assert_allclose(late, np.array([NAN, 0.7, NAN], dtype=np.float32))
    assert np.isnan(token_targets(words, np.array([], int), np.array([]))).all()
    assert token_targets(np.array([0]), np.array([0]), np.array([0.3])).shape == (1,)


def test_batches_weigh_a_texts_word_ends_together_as_word_weight() -> None:
    ids = [[5, 6, 7, 8], [9, 10]]
    word_targets = [np.array([0.1, NAN, 0.4, NAN], np.float32), np.full(2, NAN, np.float32)]
    batches = BucketedBatches(
        ids,
        np.array([1.0, 0.25]),
        2,
        seed=0,
        shuffle=False,
        word_targets=word_targets,
        word_weight=0.5,
    )
    matrix, steps = batches[0]
    assert steps.shape == (2, matrix.shape[1], 3)
    row = int(np.flatnonzero(matrix[:, 3])[0])  # the 4-token text
    np.testing.assert_allclose(steps[row, :4, 0], [0.1, 0, 0.4, 1.0])
    np.testing.assert_allclose(steps[row, :4, 1], [0.25, 0, 0.25, 1.0])
    np.testing.assert_allclose(steps[row, :, 2], np.eye(matrix.shape[1])[3])
    other = 1 - row
    np.testing.assert_allclose(steps[other, :2], np.array([[0, 0, 0], [0.25, 1, 1]]))
    with pytest.raises(ValueError, match="line up"):
        BucketedBatches(ids, np.ones(2), 2, 0, augment=lambda m: m, word_targets=word_targets)


def test_the_per_step_network_is_the_served_one_at_every_token() -> None:
    """What the word targets fit is what the bot shows: the per-step training network's
    output after each token equals the served runtime's, within 1e-5, padding included."""
    from nlp.model import build_model, export_weights, word_cross_entropy

    config = STUDENT.with_overrides(units=16, embedding_dim=8, vocab_size=12)
    network = build_model(config, word_targets=True)
    vocabulary = Vocabulary(("<pad>", "<oov>", *(f"t{n}" for n in range(10))))
    served = SentimentModel(config, vocabulary, export_weights(network, config), "per-step")
    rows = [[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 3], [4, 2], [11, 10, 9, 8, 7]]
    matrix = np.zeros((3, 16), dtype=np.int32)
    for row, ids in enumerate(rows):
        matrix[row, : len(ids)] = ids
    per_step = network.predict(matrix, verbose=0)[..., 1]
    for row, expected in enumerate(served.positive_per_token(rows)):
        np.testing.assert_allclose(per_step[row, : len(expected)], expected, atol=1e-5)
    steps = np.zeros((3, 16, 3), np.float32)
    steps[0, 10] = (1.0, 1.0, 1.0)
    loss = np.asarray(word_cross_entropy(steps, network.predict(matrix, verbose=0)))
    np.testing.assert_allclose(loss, [-np.log(per_step[0, 10]), 0, 0], rtol=1e-5)


@pytest.mark.slow
def test_the_teachers_traces_are_kept_and_a_damaged_file_traced_again(
    trained_model, tmp_path: Path, monkeypatch
) -> None:
    texts = ["정말 재밌어요 강추", "시간 아까운 영화", "", "정말 재밌어요 강추"]
    first = teacher_words(trained_model, texts, progress=False, cache_dir=tmp_path)
    positions, probabilities = first.of(texts[0])
    trace = trained_model.trace(texts[0])
    assert tuple(positions) == trace.positions
    np.testing.assert_allclose(probabilities, trace.probabilities, rtol=1e-6)
    assert len(first.of("")[0]) == 0 and len(first.of("never traced")[0]) == 0
    (cached,) = (tmp_path / WORDS_CACHE).iterdir()
    traced = trained_model.trace_batch
    monkeypatch.setattr(trained_model, "trace_batch", _refuse)
    again = teacher_words(trained_model, texts, progress=False, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.probabilities, first.probabilities)
    cached.write_bytes(cached.read_bytes()[:40])  # cut short, as by a full disk
    monkeypatch.setattr(trained_model, "trace_batch", traced)
    afresh = teacher_words(trained_model, texts, progress=False, cache_dir=tmp_path)
    np.testing.assert_array_equal(afresh.offsets, first.offsets)


def _refuse(*_: object) -> None:
    raise AssertionError("the teacher was asked again")


@pytest.mark.slow
def test_a_student_fitted_to_the_teachers_words_follows_its_trace(trained_model) -> None:
    """Trained on the same rows with the same seed, the student that fits the teacher's
    verdict after every word is closer to it at the words before the last than the one
    that fits the final verdict only; both are versions like any other."""
    train = load_split("train").head(3_000)
    config = STUDENT.with_overrides(units=32, embedding_dim=32)
    teacher_trace = teacher_words(trained_model, train.texts, progress=False)
    plain = TrainingRequest(config, train, load_split("test").head(300), epochs=4, progress=False)
    fitted = replace(plain, word_targets=WordTargets(trained_model.version, 4.0, teacher_trace))
    assert fitted.key(config) != plain.key(config)
    gaps = []
    for request in (plain, fitted):
        with tempfile.TemporaryDirectory() as root:
            result = run_training(request, Registry(Path(root)))
            student = load_model(result.path, result.name)
        gaps.append(_prefix_gap(student, trained_model, train.texts[:500]))
    assert gaps[1] < 0.85 * gaps[0], gaps  # 0.125 against 0.179 when written


def _prefix_gap(student: Servable, teacher: Servable, texts: list[str]) -> float:
    """Mean |student - teacher| after each word but the last, over words both read."""
    gaps = []
    for ours, theirs in zip(student.trace_batch(texts), teacher.trace_batch(texts), strict=True):
        by_word = dict(zip(theirs.positions, theirs.probabilities, strict=True))
        gaps += [
            abs(p - by_word[w])
            for w, p in zip(ours.positions[:-1], ours.probabilities[:-1], strict=True)
            if w in by_word
        ]
    return float(np.mean(gaps))
