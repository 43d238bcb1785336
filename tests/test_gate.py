"""The validation gate: its rules on plain numbers, then on real models."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from nlp.artifacts import read_model_dir
from nlp.inference import SentimentModel
from training.data import Corpus, load_split
from training.evaluate import evaluate
from training.gate import GateDecision, GateThresholds, LabelledTexts, decide, judge, measure


@dataclass(frozen=True)
class _Verdict:
    label: int


class _Lookup:
    """A model that answers from a table: the gate's arithmetic, checked without training."""

    def __init__(self, version: str, answers: dict[str, int]) -> None:
        self.version = version
        self.answers = answers

    def trace_batch(self, texts):
        return [_Verdict(self.answers[text]) for text in texts]


def _figures(current: float, candidate: float, wrong: int, fixed: int) -> dict:
    return {
        "test_n": 1000,
        "current_test_accuracy": current,
        "candidate_test_accuracy": candidate,
        "n_heldout": 10,
        "wrong_before": wrong,
        "fixed_on_heldout": fixed,
    }


# --- the rules ----------------------------------------------------------------------------


def test_a_drop_within_the_allowance_passes_and_beyond_it_fails():
    thresholds = GateThresholds(max_accuracy_drop=0.005)
    assert judge(_figures(0.800, 0.795, 0, 0), thresholds).accepted  # exactly 0.5 points
    assert judge(_figures(0.800, 0.830, 0, 0), thresholds).accepted
    lower = judge(_figures(0.800, 0.794, 0, 0), thresholds)
    assert not lower.accepted
    assert lower.reasons[0].endswith("too low") and lower.reasons[1].endswith("ok")


def test_the_candidate_must_fix_a_share_of_what_the_current_model_gets_wrong():
    thresholds = GateThresholds(min_fixed_share=0.5)
    assert judge(_figures(0.8, 0.8, wrong=4, fixed=2), thresholds).accepted
    too_few = judge(_figures(0.8, 0.8, wrong=4, fixed=1), thresholds)
    assert not too_few.accepted
    assert "fixes 1 of the 4" in too_few.reasons[1] and too_few.reasons[1].endswith("too few")
    nothing_to_fix = judge(_figures(0.8, 0.8, wrong=0, fixed=0), thresholds)
    assert nothing_to_fix.accepted and nothing_to_fix.reasons[1].endswith("ok")


def test_both_checks_must_pass_and_the_decision_round_trips():
    decision = judge(_figures(0.80, 0.70, wrong=2, fixed=0), GateThresholds())
    assert not decision.accepted
    assert [reason.rsplit(": ", 1)[1] for reason in decision.reasons] == ["too low", "too few"]
    assert decision.figures["max_accuracy_drop"] == 0.005
    assert decision.figures["min_fixed_share"] == 0.5
    assert GateDecision.from_dict(decision.to_dict()) == decision


def test_measure_counts_fixed_and_broken_held_out_corrections():
    test = LabelledTexts(["t1", "t2", "t3", "t4"], [1, 0, 1, 0])
    heldout = LabelledTexts(["h1", "h2", "h3", "h4", "h5"], [1, 1, 0, 0, 1])
    current = _Lookup(
        "old", {"t1": 1, "t2": 0, "t3": 1, "t4": 1, "h1": 0, "h2": 0, "h3": 1, "h4": 0, "h5": 1}
    )
    candidate = _Lookup(
        "new", {"t1": 1, "t2": 0, "t3": 1, "t4": 0, "h1": 1, "h2": 1, "h3": 1, "h4": 1, "h5": 1}
    )
    figures = measure(current, candidate, test, heldout)
    assert figures["current_test_accuracy"] == 0.75
    assert figures["candidate_test_accuracy"] == 1.0
    assert figures["n_heldout"] == 5
    assert figures["wrong_before"] == 3  # h1, h2, h3
    assert figures["fixed_on_heldout"] == 2  # h1, h2
    assert figures["broken_on_heldout"] == 1  # h4
    assert figures["fixed_share"] == pytest.approx(2 / 3)
    assert figures["current_heldout_accuracy"] == 0.4
    assert figures["candidate_heldout_accuracy"] == 0.6
    assert (figures["current_version"], figures["candidate_version"]) == ("old", "new")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        LabelledTexts(["a"], [])
    with pytest.raises(ValueError):
        GateThresholds(min_fixed_share=1.5)
    model = _Lookup("m", {})
    with pytest.raises(ValueError):
        measure(model, model, LabelledTexts([], []), LabelledTexts([], []))


# --- real models --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gate_test_set() -> LabelledTexts:
    test = load_split("test").head(500)
    return LabelledTexts(test.texts, test.labels)


@pytest.fixture(scope="module")
def heldout_reviews() -> LabelledTexts:
    """Reviews from beyond the gate's test head, standing in for held-out corrections."""
    test = load_split("test")
    return LabelledTexts(test.texts[3_000:3_100], test.labels[3_000:3_100])


@pytest.fixture(scope="module")
def noise_model(trained_model, tmp_path_factory) -> SentimentModel:
    """The current recipe trained on shuffled labels: a model that learned nothing."""
    from nlp.config import KIWI
    from training.registry import Registry
    from training.train import TrainingRequest, run_training

    train = load_split("train").head(2_000)
    labels = list(train.labels)
    random.Random(7).shuffle(labels)
    shuffled = Corpus(train.texts, labels, train.malformed, train.source, train.sha256)
    request = TrainingRequest(
        KIWI, shuffled, load_split("test").head(200), epochs=1, progress=False
    )
    registry = Registry(tmp_path_factory.mktemp("noise-models"))
    name = run_training(request, registry).name
    config, vocabulary, weights, _ = read_model_dir(registry.path_of(name))
    # Same Kiwi settings as the current model: share its tokeniser rather than reload it.
    return SentimentModel(config, vocabulary, weights, name, tokenizer=trained_model.tokenizer)


def test_a_model_trained_on_shuffled_labels_is_rejected(
    trained_model, noise_model, gate_test_set, heldout_reviews
):
    decision = decide(trained_model, noise_model, gate_test_set, heldout_reviews)

    assert not decision.accepted
    assert decision.reasons[0].endswith("too low")
    figures = decision.figures
    current = evaluate(trained_model, gate_test_set.texts, gate_test_set.labels, progress=False)
    noise = evaluate(noise_model, gate_test_set.texts, gate_test_set.labels, progress=False)
    assert figures["current_test_accuracy"] == current.accuracy > 0.7
    assert figures["candidate_test_accuracy"] == noise.accuracy < 0.65
    assert figures["test_n"] == 500 and figures["n_heldout"] == 100
    wrong = set(_wrong(trained_model, heldout_reviews))
    fixed = wrong - set(_wrong(noise_model, heldout_reviews))
    assert figures["wrong_before"] == len(wrong) > 0
    assert figures["fixed_on_heldout"] == len(fixed)
    assert figures["candidate_version"] == noise_model.version != trained_model.version


def test_a_better_model_is_accepted(trained_model, noise_model, gate_test_set, heldout_reviews):
    """The same pair the other way round: replacing the noise model is an improvement."""
    decision = decide(noise_model, trained_model, gate_test_set, heldout_reviews)

    assert decision.accepted, decision.reasons
    figures = decision.figures
    assert figures["candidate_test_accuracy"] - figures["current_test_accuracy"] > 0.1
    assert figures["accuracy_change"] == pytest.approx(
        figures["candidate_test_accuracy"] - figures["current_test_accuracy"]
    )
    wrong_before = _wrong(noise_model, heldout_reviews)
    fixed = set(wrong_before) - set(_wrong(trained_model, heldout_reviews))
    assert figures["wrong_before"] == len(wrong_before) > 0
    assert figures["fixed_on_heldout"] == len(fixed)
    assert figures["fixed_share"] == pytest.approx(len(fixed) / len(wrong_before))
    assert figures["fixed_share"] >= 0.5
    assert (figures["current_version"], figures["candidate_version"]) == (
        noise_model.version,
        trained_model.version,
    )


def test_an_equally_good_candidate_passes_only_if_it_fixes_something(
    trained_model, gate_test_set, heldout_reviews
):
    twin = SentimentModel(  # the same weights in another object, as a reload would give
        trained_model.config,
        trained_model.vocabulary,
        {name: array.copy() for name, array in trained_model.weights.items()},
        "twin",
        tokenizer=trained_model.tokenizer,
    )
    test = _subset(gate_test_set, list(range(100)))
    wrong = set(_wrong(trained_model, heldout_reviews))
    right = [i for i in range(len(heldout_reviews)) if i not in wrong]
    all_right = _subset(heldout_reviews, right)

    accepted = decide(trained_model, twin, test, all_right)
    assert accepted.accepted, accepted.reasons
    assert accepted.figures["accuracy_change"] == 0.0
    assert accepted.figures["wrong_before"] == 0 and accepted.figures["n_heldout"] == len(right)

    rejected = decide(trained_model, twin, test, heldout_reviews)
    assert not rejected.accepted
    assert rejected.figures["fixed_on_heldout"] == 0
    assert rejected.figures["wrong_before"] == len(wrong)
    assert rejected.reasons[0].endswith("ok") and rejected.reasons[1].endswith("too few")


def _wrong(model, data: LabelledTexts) -> list[int]:
    traces = model.trace_batch(list(data.texts))
    return [i for i, (trace, label) in enumerate(zip(traces, data.labels)) if trace.label != label]


def _subset(data: LabelledTexts, rows: list[int]) -> LabelledTexts:
    return LabelledTexts([data.texts[i] for i in rows], [data.labels[i] for i in rows])
