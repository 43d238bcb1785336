"""The focused fine-tune's batches (training/focus.py): the replay in groups of about the
same length, so a batch pads little, with the corrections' share kept in every batch."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

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


def _dense_fine_tune(base, trainer, corrections, rules, learning_rate, seed):
    """The fine-tune as it ran before `training.embedding_rows`: the whole table trained."""
    import keras

    from nlp.model import build_model, export_weights, import_weights
    from training.focus import _fitted, _interpolated, _mixed_batches, _one_step, _trainable_ids

    keras.utils.set_random_seed(seed)
    model = build_model(base.config.with_overrides(learning_rate=learning_rate))
    step = _one_step(model)
    import_weights(model, base.config, base.weights)
    ids = _trainable_ids(base.encode_many(corrections.texts))
    labels = np.asarray(corrections.labels)
    batches = _mixed_batches(
        trainer.replay_ids, trainer.replay_targets, ids, labels, rules, rules.steps, seed
    )
    _fitted(model, step, batches)
    tuned = export_weights(model, base.config)
    return _interpolated(base.weights, tuned, rules.interpolation)


def test_a_fine_tune_of_the_rows_it_reads_equals_one_of_the_whole_table(
    trained_model, monkeypatch
) -> None:
    """Adam never moves a row no batch reads, so training only the rows read gives the
    whole table's weights; every other row stays the base's, bit for bit."""
    import training.embedding_rows as embedding_rows
    from training.data import load_split
    from training.focus import Labelled, NetworkTrainer

    monkeypatch.setattr(embedding_rows, "SPARE_ROWS", 8)
    monkeypatch.setattr(embedding_rows, "ROWS_ROUNDED_TO", 8)
    train = load_split("train").head(200)
    replay = Labelled(train.texts, train.labels)
    rules = FocusRules(steps=12)
    trainer = NetworkTrainer(trained_model, replay, rules, 1e-3, seed=3)
    vocabulary_rows = len(trained_model.weights["embedding"])
    assert trainer.table_rows < vocabulary_rows / 2
    corrections = Labelled(["배우 연기 최악", "생각보다 괜찮았다"], [1, 0])
    member, _ = trainer.train(corrections)
    expected = _dense_fine_tune(trained_model, trainer, corrections, rules, 1e-3, seed=3)
    assert set(member.weights) == set(expected)
    for name, array in expected.items():
        np.testing.assert_allclose(member.weights[name], array, rtol=0, atol=1e-6, err_msg=name)
    moved = np.any(member.weights["embedding"] != trained_model.weights["embedding"], axis=1)
    assert 0 < moved.sum() <= trainer.table_rows


def test_a_job_that_reads_more_rows_than_the_table_holds_gets_the_same_weights(
    trained_model, monkeypatch
) -> None:
    """Words the replay lacks may outgrow the table: the model is built again, its dropout
    streams going on where they stopped, so each job's weights are those of a trainer
    whose table never had to grow."""
    import training.embedding_rows as embedding_rows
    from training.data import load_split
    from training.embedding_rows import UsedRows
    from training.focus import Labelled, NetworkTrainer

    train = load_split("train").head(200)
    replay = Labelled(train.texts, train.labels)
    rules = FocusRules(steps=8)
    roomy = NetworkTrainer(trained_model, replay, rules, 1e-3, seed=5)
    monkeypatch.setattr(embedding_rows, "SPARE_ROWS", 0)
    monkeypatch.setattr(embedding_rows, "ROWS_ROUNDED_TO", 1)
    tight = NetworkTrainer(trained_model, replay, rules, 1e-3, seed=5)
    known = Labelled([train.texts[0]], [1 - train.labels[0]])
    new = Labelled(load_split("test").head(40).texts, load_split("test").head(40).labels)
    new_ids = [ids or [1] for ids in trained_model.encode_many(new.texts).id_lists]
    assert len(UsedRows.of(tight.replay_ids, new_ids)) > tight.table_rows
    first_table = tight.table_rows
    for corrections in (known, new, known):
        expected, _ = roomy.train(corrections)
        member, _ = tight.train(corrections)
        for name, array in expected.weights.items():
            np.testing.assert_array_equal(member.weights[name], array, err_msg=name)
    assert first_table < tight.table_rows <= roomy.table_rows


def test_rows_are_renumbered_and_written_back_in_place() -> None:
    from training.embedding_rows import UsedRows

    used = UsedRows.of([[7, 3], [3, 9]], [[5]])
    assert used.ids.tolist() == [0, 3, 5, 7, 9]
    np.testing.assert_array_equal(used.renumbered(np.array([[7, 3, 0]])), [[3, 1, 0]])
    with pytest.raises(ValueError, match="do not hold"):
        used.renumbered(np.array([[4]]))
    embedding = np.arange(20, dtype=np.float32).reshape(10, 2)
    table = used.table(embedding, 8)
    assert table.shape == (8, 2) and not table[5:].any()
    merged = used.merged(embedding, table * 10)
    np.testing.assert_array_equal(merged[used.ids], embedding[used.ids] * 10)
    untouched = [1, 2, 4, 6, 8]
    np.testing.assert_array_equal(merged[untouched], embedding[untouched])
