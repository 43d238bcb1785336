"""The n-gram member: exact word-by-word trace, a real fit, and files that are checked."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nlp.artifacts import WEIGHTS_FILE, ModelLoadError, read_model_dir
from nlp.ensemble import load_member, load_model
from nlp.inference import REASON_EMPTY
from nlp.model_config import NGRAM
from nlp.ngrams import NgramModel, feature_hashes, message_features, word_features, words_of
from training.data import load_split
from training.registry import Registry
from training.train import TrainingRequest, run_training

SENTENCE = "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다 그래도 배우는 좋았다 😀"


@pytest.fixture(scope="module")
def ngram_registry(tmp_path_factory) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("ngram-registry"))
    request = TrainingRequest(
        NGRAM, load_split("train").head(8_000), load_split("test").head(2_000), progress=False
    )
    registry.use(run_training(request, registry).name)
    return registry


@pytest.fixture(scope="module")
def ngram_model(ngram_registry) -> NgramModel:
    model = ngram_registry.load_current()
    assert isinstance(model, NgramModel)
    return model


def test_features_of_a_word_are_its_own_pair_and_padded_character_ngrams():
    words = ["정말", "재밌다"]
    assert word_features(words, 0, 2) == [
        "w:정말",
        "c: ",
        "c:정",
        "c:말",
        "c: ",
        "c: 정",
        "c:정말",
        "c:말 ",
    ]
    assert "p:정말 재밌다" in word_features(words, 1, 4)
    assert "c: 재밌다 " in word_features(words, 1, 5)  # the whole word, marked at both ends
    assert words_of("정말\x00재밌다 BEST") == ["정말", "재밌다", "best"]


def test_a_real_fit_beats_chance_by_far_and_counts_its_validation(ngram_registry):
    info = ngram_registry.info(ngram_registry.current_name())
    assert info.problem is None and info.accuracy > 0.70
    assert 0.65 < info.metrics["best_val_accuracy"] <= 1.0


def test_trace_equals_rescoring_every_word_prefix(ngram_model):
    words = SENTENCE.split()
    trace = ngram_model.trace(SENTENCE)
    rerun = [ngram_model.trace(" ".join(words[: k + 1])).positive for k in range(len(words))]
    np.testing.assert_allclose(trace.probabilities, rerun, atol=1e-12)
    assert trace.words == tuple(words) and trace.positions == tuple(range(len(words)))
    assert trace.positive == trace.probabilities[-1]


def test_trace_equals_the_logistic_regression_on_the_whole_review(ngram_model):
    """The runtime's distinct features, looked up by sorted hash, give the fitted model's
    score: intercept + the weights of every known feature of the review, summed here
    without the runtime's lookup or its word-by-word loop."""
    weights = ngram_model.weights
    coef_by_hash = dict(zip(weights["feature_hash"].tolist(), weights["coef"].tolist()))
    texts = load_split("test").texts[:300]
    traces = ngram_model.trace_batch(texts)
    readable = [i for i, trace in enumerate(traces) if trace.reason is None]
    assert len(readable) > 290
    for i in readable:
        features = message_features(words_of(texts[i]), NGRAM.max_char_ngram)
        hashes = feature_hashes(sorted(features)).tolist()
        logit = float(weights["intercept"][0]) + sum(coef_by_hash.get(h, 0.0) for h in hashes)
        assert traces[i].positive == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-6)


def test_bad_text_gives_the_same_reasons_as_the_networks(ngram_model):
    texts = [
        "",
        "😀",
        "좋다",
        "x" * 4096,
        "ㅋㅋㅋㅋ",
        "\x00",
        ("이 영화 정말 재밌어요 " * 400)[:4096],
    ]
    traces = ngram_model.trace_batch(texts)
    assert [t.reason for t in traces] == [
        REASON_EMPTY,
        None,
        None,
        None,
        None,
        REASON_EMPTY,
        None,
    ]
    assert len(traces[-1].words) == len(texts[-1].split())  # no token limit: it reads all
    assert all(0.0 <= p <= 1.0 for p in traces[-1].probabilities)


def test_damaged_weights_are_refused(ngram_registry, tmp_path):
    source = ngram_registry.current_dir()
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    assert isinstance(load_model(copy), NgramModel)
    weights = copy / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-200] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_member(copy)


def test_wrong_shaped_weights_are_unusable(ngram_registry):
    config, vocabulary, weights, _ = read_model_dir(ngram_registry.current_dir())
    with pytest.raises(ValueError, match="shapes"):
        NgramModel(config, vocabulary, {**weights, "coef": weights["coef"][:-1]}, "x")
    reversed_hashes = {**weights, "feature_hash": weights["feature_hash"][::-1].copy()}
    with pytest.raises(ValueError, match="sorted"):
        NgramModel(config, vocabulary, reversed_hashes, "x")
    nan = weights["coef"].copy()
    nan[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NgramModel(config, vocabulary, {**weights, "coef": nan}, "x")


def test_refit_with_corrections_learns_their_new_words(ngram_registry, ngram_model):
    slang = ["이 영화 개꿀잼띠 인정", "개꿀잼띠 또 보고싶다", "진짜 개꿀잼띠"]
    request = TrainingRequest(
        NGRAM,
        load_split("train").head(2_000),
        load_split("test").head(200),
        extra_texts=slang,
        extra_labels=[1, 1, 1],
        base=ngram_model,
        progress=False,
    )
    seen = []
    result = run_training(request, ngram_registry, lambda e, n, logs: seen.append(logs))
    refit = ngram_registry.load(result.name)
    assert (
        refit.weights_of(["w:개꿀잼띠"])[0] > 0 and ngram_model.weights_of(["w:개꿀잼띠"])[0] == 0
    )
    assert refit.trace("개꿀잼띠").positive > ngram_model.trace("개꿀잼띠").positive
    assert len(seen) == 1 and 0.5 < seen[0]["val_accuracy"] <= 1.0


def test_an_ngram_only_base_is_refitted_without_a_learning_rate(ngram_model):
    """The quick first model is an n-gram model alone: a retrain of it must not ask its
    recipe for a network's learning rate (it has none; the fit is convex)."""
    from training.recipe import RetrainRecipe
    from training.retrain import _learning_rate

    assert _learning_rate(ngram_model, RetrainRecipe()) == 0.0


def test_a_focused_refit_keeps_what_it_said_of_the_replay_and_learns_the_corrections(
    ngram_model,
):
    """The replay's targets are the model's own probabilities: with nothing to learn the
    refit keeps every weight, and what the corrections teach moves the replay's verdicts
    far less than the corrections' own."""
    from training.focus import Labelled, focus_ngram
    from training.recipe import FocusRules

    replay_rows = load_split("train").head(600)
    replay = Labelled(replay_rows.texts, replay_rows.labels)
    unchanged, _ = focus_ngram(ngram_model, replay, Labelled([], []), FocusRules())
    np.testing.assert_allclose(unchanged.weights["coef"], ngram_model.weights["coef"], atol=1e-4)

    taught = ["개꿀잼띠 ㄹㅇ", "존잼 인정 개꿀잼띠"]
    focused, _ = focus_ngram(ngram_model, replay, Labelled(taught, [1, 1]), FocusRules())
    assert all(focused.trace(text).positive > 0.5 for text in taught)
    before = np.array([t.positive for t in ngram_model.trace_batch(replay.texts)])
    after = np.array([t.positive for t in focused.trace_batch(replay.texts)])
    assert np.mean(np.abs(after - before)) < 0.02


def test_a_refit_reused_across_jobs_gives_each_job_its_own_refit(ngram_model) -> None:
    """The replay's features are read once for the retrain's jobs (training.focus.
    NgramTrainer); each job's model is the one a refit from scratch gives."""
    from training.focus import Labelled, NgramTrainer, focus_ngram
    from training.recipe import FocusRules

    replay_rows = load_split("train").head(600)
    replay = Labelled(replay_rows.texts, replay_rows.labels)
    trainer = NgramTrainer(ngram_model, replay, FocusRules())
    for taught in (["개꿀잼띠 ㄹㅇ"], ["존잼 인정 개꿀잼띠", "노잼 ㅠㅠ 시간 아깝"]):
        corrections = Labelled(taught, [1] * len(taught))
        reused, _ = trainer.train(corrections)
        fresh, _ = focus_ngram(ngram_model, replay, corrections, FocusRules())
        np.testing.assert_array_equal(reused.weights["feature_hash"], fresh.weights["feature_hash"])
        np.testing.assert_allclose(reused.weights["coef"], fresh.weights["coef"], atol=1e-6)
