"""Choosing ensemble weights and bias: pure functions over member probabilities."""

from __future__ import annotations

import json

import numpy as np

from training.calibrate import Scored, accuracy, balanced_accuracy, choose, combined


def _scored(rows: list[list[float]], labels: list[int]) -> Scored:
    return Scored(np.asarray(rows), np.asarray(labels))


def test_equal_weights_and_no_bias_is_the_plain_average() -> None:
    scored = _scored([[0.2, 0.6], [0.9, 0.7]], [0, 1])
    assert np.allclose(combined(scored, (1, 1), 0.0), [0.4, 0.8])


def test_a_member_that_is_only_noise_loses_weight() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    good = np.where(labels == 1, 0.8, 0.2) + rng.normal(0, 0.05, 400)
    noise = rng.uniform(0, 1, 400)
    scored = Scored(np.stack([good, noise], axis=1), labels)
    choice = choose(scored, scored)
    assert choice.weights[0] > choice.weights[1]
    assert accuracy(scored, choice.weights, choice.bias) >= accuracy(scored, (1, 1), 0.0)


def test_chat_positives_read_as_negative_move_the_bias_up() -> None:
    """Reviews are fine at bias 0; chat positives sit just under 0.5: a positive bias fixes
    chat without costing reviews."""
    nsmc = _scored([[0.9, 0.9], [0.1, 0.1]] * 50, [1, 0] * 50)
    chat = _scored([[0.42, 0.45], [0.1, 0.15]] * 20, [1, 0] * 20)
    choice = choose(nsmc, chat)
    assert choice.bias > 0
    assert balanced_accuracy(chat, choice.weights, choice.bias) == 1.0
    assert choice.nsmc == 1.0


def test_ties_keep_the_plain_recipe() -> None:
    scored = _scored([[0.9, 0.9], [0.1, 0.1]], [1, 0])
    choice = choose(scored, scored)
    assert choice.weights == (1.0, 1.0) and choice.bias == 0.0


def test_a_single_network_is_calibrated_as_an_ensemble_of_one(trained_registry, capsys) -> None:
    """A student has no members: only its bias is chosen, on the same two dev sets."""
    from training.calibrate import BIASES, main

    version = trained_registry.root / "versions" / trained_registry.current_name()
    assert main(["--model", str(version)]) == 0
    chosen = json.loads(capsys.readouterr().out)["chosen"]
    assert chosen["weights"] == [1.0]
    assert chosen["bias"] in BIASES.tolist()
    assert 0.5 < chosen["nsmc_val"] <= 1.0 and 0.5 < chosen["chat_dev_balanced"] <= 1.0
