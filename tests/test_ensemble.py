"""The default model: Kiwi, mecab and syllable networks and an n-gram model, averaged word
by word."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nlp.artifacts import MANIFEST_FILE, MEMBERS_DIR, WEIGHTS_FILE, ModelLoadError
from nlp.ensemble import Ensemble, load_model, shifted
from nlp.inference import SentimentModel
from nlp.model_config import DEFAULT, EnsembleConfig
from nlp.ngrams import NgramModel
from training.data import load_split
from training.registry import Registry
from training.train import TrainingRequest, run_training

SENTENCE = "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다 😀"

pytestmark = pytest.mark.slow  # trains an ensemble


@pytest.fixture(scope="module")
def ensemble_registry(tmp_path_factory) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("ensemble-registry"))
    request = TrainingRequest(
        DEFAULT,
        load_split("train").head(4_000),
        load_split("test").head(500),
        epochs=1,
        progress=False,
    )
    result = run_training(request, registry)
    registry.use(result.name)
    return registry


def test_default_is_an_ensemble_of_three_networks_and_an_ngram_model(ensemble_registry):
    model = ensemble_registry.load_current()
    assert isinstance(model, Ensemble) and isinstance(DEFAULT, EnsembleConfig)
    networks, ngrams = model.members[:3], model.members[3:]
    assert [m.config.tokenizer["name"] for m in networks] == ["kiwi", "mecab", "syllable"]
    assert [type(m) for m in ngrams] == [NgramModel]
    info = ensemble_registry.info(model.version)
    assert info.problem is None and info.accuracy > 0.6
    assert 0.6 < info.metrics["best_val_accuracy"] <= 1.0


def test_ensemble_trace_is_the_word_by_word_weighted_mean_of_its_members(ensemble_registry):
    model = ensemble_registry.load_current()
    trace = model.trace(SENTENCE)
    members = [member.trace(SENTENCE) for member in model.members]
    assert trace.words == tuple(SENTENCE.split())
    weights = np.asarray(model.config.member_weights())
    mean = np.average([m.probabilities for m in members], axis=0, weights=weights)
    expected = [shifted(value, model.config.bias) for value in mean]
    np.testing.assert_allclose(trace.probabilities, expected, atol=1e-7)
    final = np.average([m.positive for m in members], weights=weights)
    assert trace.positive == pytest.approx(shifted(final, model.config.bias))
    assert trace.model_version == model.version
    assert [t.reason for t in model.trace_batch(["", "hello", "좋다"])] == ["empty", None, None]


def test_a_damaged_member_makes_the_whole_version_unservable(ensemble_registry, tmp_path):
    source = ensemble_registry.current_dir()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(source, corrupt)
    weights = corrupt / MEMBERS_DIR / "1" / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_model(corrupt)
    half = tmp_path / "half"
    shutil.copytree(source, half)
    (half / MEMBERS_DIR / "0" / MANIFEST_FILE).unlink()
    with pytest.raises(ModelLoadError, match="incomplete"):
        load_model(half)


def test_fine_tuning_an_ensemble_keeps_each_members_vocabulary(ensemble_registry):
    base = ensemble_registry.load_current()
    request = TrainingRequest(
        base.config,
        load_split("train").head(2_000),
        load_split("test").head(200),
        epochs=1,
        extra_texts=["이 영화 꿀잼", "꿀잼 인정", "노잼"],
        extra_labels=[1, 1, 0],
        base=base,
        learning_rate=5e-4,
        progress=False,
    )
    epochs_seen = []
    result = run_training(request, ensemble_registry, lambda e, n, logs: epochs_seen.append(logs))
    tuned = ensemble_registry.load(result.name)
    assert isinstance(tuned, Ensemble)
    networks = [
        (b, t) for b, t in zip(base.members, tuned.members) if isinstance(t, SentimentModel)
    ]
    assert len(networks) == 3
    assert all(t.vocabulary == b.vocabulary for b, t in networks)  # fine-tuned in place
    assert all(t.config.learning_rate == 5e-4 for _, t in networks)
    assert isinstance(tuned.members[3], NgramModel)  # refit: see tests/test_ngrams.py
    assert result.metrics["fine_tuned_from"] == base.version
    assert [logs["member"] for logs in epochs_seen] == [1, 2, 3, 4]


def test_weights_and_bias_keep_the_trace_exact_and_survive_a_reload(ensemble_registry):
    """A weighted, shifted average is still one pass: after each word it equals the same
    ensemble re-run on the prefix, and the recipe's choice is saved with the version."""
    from dataclasses import replace

    model = ensemble_registry.load_current()
    config = replace(model.config, weights=(2.0, 1.0, 1.0, 0.5), bias=0.3)
    weighted = Ensemble(config, model.members, "weighted")
    trace = weighted.trace(SENTENCE)
    words = SENTENCE.split()
    for index, probability in enumerate(trace.probabilities):
        prefix = " ".join(words[: index + 1])
        assert probability == pytest.approx(weighted.trace(prefix).positive, abs=1e-5)
    assert trace.probabilities != model.trace(SENTENCE).probabilities
    assert EnsembleConfig.from_dict(config.to_dict()) == config
    plain = replace(model.config, weights=(), bias=0.0)
    assert EnsembleConfig.from_dict(plain.to_dict()) == plain
    assert "weights" not in plain.to_dict()  # a plain average reads as older versions wrote it


def test_a_big_batch_traces_the_members_side_by_side_and_equals_one_thread(ensemble_registry):
    """A batch of at least MIN_SPLIT messages runs the members on the batch pool's two
    threads, each member on the whole batch, Kiwi's analysis started first on the early
    thread (beside the others' Python); the traces are those of one thread. A live
    micro-batch stays on the calling thread."""
    import threading

    from nlp import batch_threads

    model = ensemble_registry.load_current()
    texts = [*load_split("test").texts[: batch_threads.MIN_SPLIT - 2], "", "ㅋㅋ 😀"]
    threads: dict[str, set[str]] = {}

    def recorded(step, name):
        def recording(batch):
            threads.setdefault(name, set()).add(threading.current_thread().name)
            return step(batch)

        return recording

    for member in model.members:
        name = member.config.name
        member.trace_batch_here = recorded(member.trace_batch_here, name)
        if isinstance(member, SentimentModel):
            member.encode_many = recorded(member.encode_many, f"{name} tokens")
            member.trace_encoded = recorded(member.trace_encoded, f"{name} network")
    split = model.trace_batch(texts)
    assert threads.pop("kiwi tokens") == {"early_0"}
    assert threads.pop("kiwi network") <= {"batch_0", "batch_1"}
    assert set(threads) == {
        *("mecab", "mecab tokens", "mecab network"),
        *("syllable", "syllable tokens", "syllable network", "ngram"),
    }
    assert all(name.startswith("batch") for names in threads.values() for name in names)
    threads.clear()
    alone = model.trace_batch_here(texts)
    assert all(names == {threading.current_thread().name} for names in threads.values())
    assert [t.words for t in split] == [t.words for t in alone]
    assert [t.reason for t in split[-2:]] == ["empty", None]
    np.testing.assert_allclose(
        [p for t in split for p in t.probabilities],
        [p for t in alone for p in t.probabilities],
        atol=1e-7,
    )
    threads.clear()
    model.trace_batch(texts[:1])
    assert all(names == {threading.current_thread().name} for names in threads.values())
    # An import queues the next batch behind the one being traced: the same traces.
    first, second = model.submit_batch(texts), model.submit_batch(texts[::-1])
    for queued, expected in ((first, split), (second, split[::-1])):
        traces = queued.result(timeout=60)
        assert [t.words for t in traces] == [t.words for t in expected]
        np.testing.assert_allclose(
            [p for t in traces for p in t.probabilities],
            [p for t in expected for p in t.probabilities],
            atol=1e-7,
        )


def test_a_fine_tune_traces_what_its_base_read_as_it_would_read_it(ensemble_registry):
    """A student's retrain reads thousands of texts with its teacher once and traces the
    readings after every fine-tune (training.follow): fine-tuning changes weights, never
    how a member reads, so the traces equal the fine-tuned ensemble's own, big batch (on
    the pool) or small."""
    from nlp import batch_threads
    from nlp.ensemble import positives_read, trace_read

    model = ensemble_registry.load_current()
    tuned_members = []
    for member in model.members:
        if isinstance(member, SentimentModel):
            weights = {name: array * 1.1 for name, array in member.weights.items()}
            tuned_members.append(
                SentimentModel(
                    member.config, member.vocabulary, weights, "tuned", tokenizer=member.tokenizer
                )
            )
        else:
            weights = {**member.weights, "coef": member.weights["coef"] * 1.5}
            tuned_members.append(NgramModel(member.config, member.vocabulary, weights, "tuned"))
    tuned = Ensemble(model.config, tuned_members, "tuned")
    for texts in (
        [SENTENCE, "", "ㅋㅋ 😀"],
        [*load_split("test").texts[: batch_threads.MIN_SPLIT], SENTENCE],
    ):
        readings = model.encode_many(texts)
        traced = trace_read(tuned, readings)
        own = tuned.trace_batch_here(texts)
        assert [t.words for t in traced] == [t.words for t in own]
        np.testing.assert_allclose(
            [p for t in traced for p in t.probabilities],
            [p for t in own for p in t.probabilities],
            atol=1e-7,
        )
        before = [t.positive for t in trace_read(model, readings)]
        assert before == pytest.approx([t.positive for t in model.trace_batch_here(texts)])
        assert before != pytest.approx([t.positive for t in traced])
        # the verdicts alone, without the word-by-word merge: the same values, to the bit
        assert positives_read(tuned, readings) == [t.positive for t in traced]
        network, network_read = tuned.members[0], readings.members[0]
        assert positives_read(network, network_read) == [
            t.positive for t in trace_read(network, network_read)
        ]
    with pytest.raises(TypeError):
        trace_read(model.members[0], readings)


def test_a_focused_candidate_reads_as_its_base_new_words_included(ensemble_registry):
    """The retrain's gate traces its candidate on the base's readings of the NSMC reviews,
    kept between retrains (training.retrain._labels_read): a focused fine-tune must read
    as its base does, even where its n-gram member learned the corrections' new words."""
    from nlp.ensemble import positives_read
    from training.focus import Focuser, Labelled
    from training.recipe import FocusRules
    from training.retrain import _labels, _labels_read
    from training.train import assemble_model

    model = ensemble_registry.load_current()
    train = load_split("train")
    corrections = Labelled(["존잼 갓띵작 인정", "킹받는 노잼 갓띵작"], [1, 0])
    focuser = Focuser(
        model, Labelled(train.texts[:300], train.labels[:300]), FocusRules(steps=8), 1e-3, 0
    )
    trained = focuser.train(corrections)
    candidate = assemble_model(model.config, trained, "candidate")
    ngram, tuned_ngram = model.members[3], candidate.members[3]
    assert isinstance(ngram, NgramModel) and isinstance(tuned_ngram, NgramModel)
    new_features = len(tuned_ngram.weights["feature_hash"]) - len(ngram.weights["feature_hash"])
    assert new_features > 0  # the corrections' unseen words became features
    texts = [*corrections.texts, *load_split("test").texts[:200]]
    readings = model.encode_many(texts)
    own = [trace.positive for trace in candidate.trace_batch(texts)]
    np.testing.assert_allclose(positives_read(candidate, readings), own, atol=1e-7)
    assert _labels_read(candidate, readings) == _labels(candidate, texts)
    assert positives_read(candidate, readings)[:2] != positives_read(model, readings)[:2]
