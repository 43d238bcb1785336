"""The validation gate: each check on plain numbers, then the NSMC check on real models."""

from __future__ import annotations

import random

import pytest

from nlp.artifacts import read_model_dir
from nlp.inference import SentimentModel
from nlp.model_config import ModelConfig
from training.data import Corpus, load_split
from training.evaluate import predict_labels
from training.gate import (
    CheckName,
    GateDecision,
    check_canaries,
    check_generalises,
    check_learned,
    check_nsmc,
    evidence_of,
    min_evidence,
    sign_test,
)
from training.recipe import GateRules

RULES = GateRules(
    max_nsmc_drop=0.003, confidence=0.9, min_learned=0.9, max_p_value=0.05, min_moved_share=0.6
)


def _paired(n: int, fixed: int, broken: int) -> tuple[list[int], list[int], list[int]]:
    """n rows, all label 1: `fixed` rows wrong before and right after, `broken` the reverse."""
    labels = [1] * n
    before = [0] * fixed + [1] * broken + [1] * (n - fixed - broken)
    after = [1] * fixed + [0] * broken + [1] * (n - fixed - broken)
    return labels, before, after


def test_nsmc_passes_a_small_drop_and_fails_one_beyond_the_bound():
    same = check_nsmc(*_paired(5000, fixed=40, broken=40), RULES)
    assert same.passed and same.figures["drop"] == 0.0
    assert 0 < same.figures["drop_bound"] < 0.003  # ~1.28 * sqrt(80) / 5000 = 0.23 points

    worse = check_nsmc(*_paired(5000, fixed=40, broken=70), RULES)
    assert not worse.passed and worse.figures["drop"] == pytest.approx(30 / 5000)
    assert worse.summary.endswith("fail") and "5000 reviews" in worse.summary

    better = check_nsmc(*_paired(5000, fixed=70, broken=40), RULES)
    assert better.passed and better.figures["accuracy_after"] > better.figures["accuracy_before"]


def test_a_drop_is_judged_with_its_uncertainty():
    """A 0.1-point drop passes on 5,000 rows; on 500 rows even 0.2 points fails, because
    that sample cannot tell it apart from a drop of a point."""
    assert check_nsmc(*_paired(5000, fixed=25, broken=30), RULES).passed
    assert not check_nsmc(*_paired(500, fixed=2, broken=3), RULES).passed


def test_canaries_may_not_flip_but_ones_already_wrong_do_not_count():
    texts = ["최악", "최고", "별로", "좋다"]
    labels = [0, 1, 0, 1]
    before = [0, 1, 1, 1]  # "별로" already wrong
    assert check_canaries(texts, labels, before, [0, 1, 0, 1], RULES).passed
    flipped = check_canaries(texts, labels, before, [1, 1, 1, 1], RULES)
    assert not flipped.passed and flipped.figures["flipped"] == 1
    assert flipped.figures["examples"] == ["최악"]


def test_learned_needs_the_share_of_its_corrections():
    assert check_learned([1] * 10, [1] * 9 + [0], RULES).passed
    failed = check_learned([1] * 10, [1] * 8 + [0, 0], RULES)
    assert not failed.passed and failed.figures["right"] == 8


def test_generalisation_is_a_sign_test_on_held_out_movement():
    labels = [1] * 10 + [0] * 10
    before = [0.3] * 10 + [0.7] * 10
    honest = [0.4] * 9 + [0.25] + [0.6] * 9 + [0.75]  # 18 of 20 moved towards the label
    check = check_generalises(labels, before, honest, RULES)
    assert check.passed and (check.figures["toward"], check.figures["away"]) == (18, 2)
    assert (
        check.figures["p_value"] == pytest.approx(sign_test(18, 20))
        and check.figures["p_value"] < 0.001
    )

    noise = [0.4, 0.2] * 5 + [0.6, 0.8] * 5  # half one way, half the other
    assert not check_generalises(labels, before, noise, RULES).passed
    still = check_generalises(labels, before, before, RULES)
    assert not still.passed and still.figures["toward"] == still.figures["away"] == 0


def test_sign_test_tail():
    assert sign_test(5, 5) == 1 / 32
    assert sign_test(0, 10) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(15, 20) == pytest.approx(0.0207, abs=1e-4)


def test_the_fewest_texts_that_can_pass_follow_from_the_rules():
    rules = GateRules()
    needed = min_evidence(rules)
    assert needed == 5  # 4 of 4 moving the right way: p = 0.0625 > 0.05
    assert sign_test(needed, needed) <= rules.max_p_value < sign_test(needed - 1, needed - 1)
    assert min_evidence(GateRules(max_p_value=0.01)) == 7
    assert min_evidence(GateRules(max_p_value=1.0)) == 1
    # Each text is judged by a model trained on the other folds: a fold alone moves nothing.
    assert (
        evidence_of([0, 1, 0, 1], rules).movable == 4
        and not evidence_of([0, 1, 0, 1], rules).enough
    )
    assert evidence_of([0] * 9, rules).movable == 0 and not evidence_of([0] * 9, rules).enough
    assert evidence_of([0, 0, 1, 1, 1], rules).enough
    # And the generalisation check agrees: the evidence of 4 perfect texts is not enough.
    moved_four = check_generalises([1] * 4, [0.3] * 4, [0.9] * 4, rules)
    moved_five = check_generalises([1] * 5, [0.3] * 5, [0.9] * 5, rules)
    assert not moved_four.passed and moved_five.passed


def test_the_decision_needs_every_check_and_round_trips():
    passing = check_learned([1], [1], RULES)
    failing = check_learned([1], [0], RULES)
    assert GateDecision((passing,)).accepted
    decision = GateDecision((passing, failing))
    assert not decision.accepted and decision.check(CheckName.LEARNED) == passing
    assert GateDecision.from_dict(decision.to_dict()) == decision
    assert not GateDecision(()).accepted  # no evidence is no acceptance


# --- real models --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noise_model(trained_model, tmp_path_factory) -> SentimentModel:
    """The current recipe trained on shuffled labels: a model that learned nothing."""
    from nlp.model_config import KIWI
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
    assert isinstance(config, ModelConfig)
    return SentimentModel(config, vocabulary, weights, name, tokenizer=trained_model.tokenizer)


def test_the_nsmc_check_rejects_a_noise_model_and_accepts_the_real_one(trained_model, noise_model):
    test = load_split("test").head(1_000)
    real = predict_labels(trained_model, test.texts, progress=False)
    noise = predict_labels(noise_model, test.texts, progress=False)

    rejected = check_nsmc(test.labels, real, noise, RULES)
    assert not rejected.passed
    assert rejected.figures["accuracy_before"] > 0.7 > rejected.figures["accuracy_after"]
    accepted = check_nsmc(test.labels, noise, real, RULES)
    assert accepted.passed and accepted.figures["fixed"] > accepted.figures["broken"]
