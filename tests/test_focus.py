"""The focused fine-tune's batches (training/focus.py): the replay in groups of about the
same length, so a batch pads little, with the corrections' share kept in every batch."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from training.focus import _mixed_batches, _replay_groups
from training.recipe import FocusRules

CORRECTION = 7  # the token id the corrections are made of, to tell their rows apart


def _replay(count: int, seed: int = 0) -> list[list[int]]:
    """Review-like lengths: most short, a long tail up to 140 tokens."""
    lengths = np.random.default_rng(seed).geometric(1 / 35, count).clip(1, 140)
    return [[1 + row % 5] * int(length) for row, length in enumerate(lengths)]


def test_every_replay_row_is_in_one_group_and_groups_hold_similar_lengths() -> None:
    replay = _replay(1_000)
    groups = _replay_groups(replay, 48, np.random.default_rng(1))
    rows = np.concatenate(groups)
    assert sorted(rows.tolist()) == list(range(1_000))
    assert {len(group) for group in groups} <= {47, 48}
    lengths = [[len(replay[i]) for i in group] for group in groups]
    for shorter, longer in itertools.pairwise(lengths):
        assert max(shorter) <= min(longer)


def test_batches_keep_the_correction_share_and_pad_far_less_than_random_rows() -> None:
    replay = _replay(4_000)
    labels = (np.arange(4_000) % 2).astype(np.float32)
    corrections = [[CORRECTION] * 6, [CORRECTION] * 9]
    rules = FocusRules()
    per_batch = round(rules.batch_size * rules.correction_share)
    batches = _mixed_batches(replay, labels, corrections, np.array([1, 0]), rules, 120, 42)

    assert len(batches) == 120
    for matrix, batch_labels in batches:
        assert matrix.shape[0] == len(batch_labels)
        assert rules.batch_size - 1 <= len(batch_labels) <= rules.batch_size  # groups: ±1
        assert matrix.shape[1] % 8 == 0
        assert int((matrix[:, 0] == CORRECTION).sum()) == per_batch
    mean_width = np.mean([matrix.shape[1] for matrix, _ in batches])
    rng = np.random.default_rng(3)
    random_widths = [
        max(len(replay[i]) for i in rng.choice(4_000, rules.batch_size - per_batch))
        for _ in range(120)
    ]
    assert mean_width < 0.6 * np.mean(random_widths)


def test_a_pass_replays_every_group_before_any_group_comes_again() -> None:
    replay = [[1] * (1 + row % 50) for row in range(480)]  # 10 groups of 48
    batches = _mixed_batches(
        replay, np.zeros(480, np.float32), [[CORRECTION]], np.array([1]), FocusRules(), 10, 0
    )
    widths = sorted(matrix.shape[1] for matrix, _ in batches)
    groups = _replay_groups(replay, 48, np.random.default_rng(0))
    expected = sorted(-(-max(len(replay[i]) for i in g) // 8) * 8 for g in groups)
    assert widths == expected


def test_the_replay_is_fitted_to_the_networks_own_verdicts(trained_model) -> None:
    """The replay's targets are what the network itself says of each review before the
    fine-tune (as served: the trace's final probability), not the reviews' 0/1 labels,
    so replaying pulls nowhere until the corrections move the weights."""
    from training.data import load_split
    from training.focus import Labelled, NetworkTrainer

    test = load_split("test").head(300)
    replay = Labelled(test.texts, test.labels)
    trainer = NetworkTrainer(trained_model, replay, FocusRules(), 1e-4, seed=0)
    served = [trace.positive for trace in trained_model.trace_batch(test.texts)]
    usable = [i for i, ids in enumerate(trainer.replay_ids) if ids != [1]]  # an empty text: 0.5
    assert len(usable) > 290
    targets, expected = trainer.replay_targets[usable], np.asarray(served)[usable]
    np.testing.assert_allclose(targets, expected, atol=1e-4)


def test_a_trainer_traces_its_step_once_for_every_job_and_batch_shape(trained_model) -> None:
    """One training step, traced once per network: a retrain runs three jobs (two probes
    and the final model) over batches of every width and of 63 or 64 rows."""
    from training.data import load_split
    from training.focus import Labelled, NetworkTrainer

    train = load_split("train").head(400)
    replay = Labelled(train.texts, train.labels)
    trainer = NetworkTrainer(trained_model, replay, FocusRules(steps=12), 1e-3, seed=0)
    short = Labelled(["개꿀잼"], [1])
    long = Labelled(["처음엔 지루했는데 끝까지 보니 정말 최고의 영화였다 강추", "별로"], [1, 0])
    for corrections, share in ((short, 0.5), (long, 1.0)):
        member, history = trainer.train(corrections, share)
        assert set(history) == {"loss", "accuracy"} and np.isfinite(history["loss"][0])
        assert not np.array_equal(member.weights["embedding"], trained_model.weights["embedding"])
    traced: Any = trainer._step  # a tf.function
    assert traced.experimental_get_tracing_count() == 1
