"""The student-against-teacher comparison: a gap comes with its uncertainty."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import model_accuracy
from benchmarks.model_accuracy import paired_gap


def test_the_gap_is_carried_by_the_texts_only_one_model_gets_right() -> None:
    reference = np.array([True] * 8 + [False] * 2)
    model = np.array([True] * 4 + [False] * 4 + [True, False])  # 4 only the reference, 1 only it
    gap = paired_gap(reference, model)
    assert (gap.only_reference, gap.only_model) == (4, 1)
    assert gap.gap_points == pytest.approx(30.0)
    assert gap.low < gap.gap_points < gap.high
    assert gap.high - gap.gap_points == pytest.approx(gap.gap_points - gap.low)
    assert gap.sign_p == pytest.approx(2 * (math.comb(5, 4) + 1) / 2**5)  # 0.375: could be luck


def test_the_same_verdicts_have_no_gap_and_no_evidence() -> None:
    right = np.array([True, False, True])
    gap = paired_gap(right, right)
    assert (gap.gap_points, gap.low, gap.high, gap.sign_p) == (0.0, 0.0, 0.0, 1.0)


def test_a_gap_many_messages_wide_is_not_chance() -> None:
    reference = np.ones(3_000, dtype=bool)
    model = reference.copy()
    model[:60] = False  # 2 points, all one way
    gap = paired_gap(reference, model)
    assert gap.gap_points == pytest.approx(2.0) and gap.low > 1.0 and gap.sign_p < 1e-12


@pytest.mark.slow
def test_a_version_against_itself_on_every_set(trained_registry, capsys) -> None:
    directory = trained_registry.current_dir()
    assert model_accuracy.main(["--against", str(directory), str(directory)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert set(model_accuracy.evaluation_sets()) == {
        "nsmc_val",
        "nsmc_test",
        "chat_dev",
        "chat_written",
        "chat_dev_all",
        "chat_unseen",
    }
    for name in model_accuracy.evaluation_sets():
        assert 0.3 < line[name] <= 1.0
        assert line[f"{name}_gap_points"] == 0.0 and line[f"{name}_sign_p"] == 1.0
    assert 0.3 < line["chat_dev_all_balanced"] <= 1.0


def test_accuracy_is_reported_on_each_label_and_balanced_on_chat() -> None:
    right = np.array([True, False, True, True, True])
    labels = [0, 0, 1, 1, 1]
    assert model_accuracy.accuracies(right, labels, "nsmc_test") == {
        "nsmc_test": 0.8,
        "nsmc_test_negatives": 0.5,
        "nsmc_test_positives": 1.0,
    }
    chat = model_accuracy.accuracies(right, labels, "chat_dev")
    assert chat["chat_dev_balanced"] == 0.75
    # A set with one label has no balanced accuracy and no figure for the absent label.
    assert model_accuracy.accuracies(right[2:], labels[2:], "chat_unseen") == {
        "chat_unseen": 1.0,
        "chat_unseen_positives": 1.0,
    }


def test_a_missing_version_is_an_error_before_any_evaluation(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        model_accuracy.main(["--against", str(tmp_path / "no-such-version"), str(tmp_path)])
    assert stopped.value.code == 2
    assert "no-such-version does not exist" in capsys.readouterr().err
