"""A network's last finished epoch is kept and resumed: weights, optimizer, history and the
early stopping's best, so a long run stopped midway continues where it was."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from training.epoch_backup import STATE, EpochBackup, Resumed, read_backup, resumed_seed

ROWS = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
TARGETS = (ROWS.sum(axis=1) > 0).astype("float32")
STEPS = 4  # 64 rows in batches of 16


def _model() -> keras.Model:
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    return model


def _stopping() -> keras.callbacks.EarlyStopping:
    return keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=10, restore_best_weights=True
    )


def _fit(directory: Path, epochs: int) -> tuple[keras.Model, EpochBackup]:
    model = _model()
    stopping = _stopping()
    backup = EpochBackup(directory, read_backup(directory), stopping)
    backup.restore(model)
    model.fit(
        ROWS,
        TARGETS,
        batch_size=16,
        epochs=epochs,
        initial_epoch=backup.resumed.epochs,
        validation_data=(ROWS[:16], TARGETS[:16]),
        callbacks=[stopping, backup],
        verbose=0,
    )
    return model, backup


def test_a_resumed_fit_continues_the_optimizer_history_and_early_stopping(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "0.epochs"
    _fit(directory, epochs=2)  # a run stopped after its second epoch
    state = json.loads((directory / STATE).read_text())
    assert state["epochs"] == 2 and len(state["history"]["loss"]) == 2
    assert sorted(p.name for p in directory.iterdir()) == [
        "epoch-2.best.npz",
        "epoch-2.weights.h5",
        STATE,
    ]  # the first epoch's files gave way to the second's

    resumed = read_backup(directory)
    assert resumed.epochs == 2 and not resumed.stopped
    second, backup = _fit(directory, epochs=5)
    assert int(second.optimizer.iterations.numpy()) == 5 * STEPS  # not 3 * STEPS: continued
    assert backup.history["loss"][:2] == state["history"]["loss"]
    assert len(backup.history["loss"]) == 5
    assert backup.stopping is not None
    assert backup.stopping.best == max(backup.history["val_accuracy"])


def test_the_early_stoppings_best_weights_survive_the_stop(tmp_path: Path) -> None:
    directory = tmp_path / "0.epochs"
    _, backup = _fit(directory, epochs=3)
    assert backup.stopping is not None and backup.stopping.best_weights is not None
    saved_best = [w.copy() for w in backup.stopping.best_weights]

    stopping = _stopping()
    stopping.on_train_begin()  # as fit would: the callback's own reset comes first
    restored = EpochBackup(directory, read_backup(directory), stopping)
    restored.restore(_model())
    restored.on_train_begin()
    assert stopping.best == backup.stopping.best
    assert stopping.best_epoch == backup.stopping.best_epoch
    for kept, saved in zip(stopping.best_weights, saved_best, strict=True):
        np.testing.assert_array_equal(kept, saved)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / STATE).write_text("{not json"),
        lambda d: (d / STATE).write_text(json.dumps({"epochs": 2})),
        lambda d: next(d.glob("*.weights.h5")).unlink(),
        lambda d: (d / STATE).write_text(json.dumps({"epochs": "two", "history": {}})),
        lambda d: (d / STATE).write_text(
            json.dumps({"epochs": 2, "history": {}, "stopping": {"wait": 0}})
        ),
    ],
    ids=["torn-state", "no-history", "weights-missing", "bad-epochs", "stopping-incomplete"],
)
def test_a_backup_that_cannot_be_read_means_a_fresh_start(tmp_path: Path, damage) -> None:
    directory = tmp_path / "0.epochs"
    _fit(directory, epochs=2)
    damage(directory)
    model, backup = _fit(directory, epochs=2)  # trains from the first epoch, and backs up
    assert backup.resumed == Resumed()
    assert int(model.optimizer.iterations.numpy()) == 2 * STEPS
    assert len(backup.history["loss"]) == 2
    assert read_backup(directory).epochs == 2


def test_no_backup_is_a_fresh_start(tmp_path: Path) -> None:
    assert read_backup(tmp_path / "never-written") == Resumed()


def test_a_resumed_run_shuffles_from_its_own_seed() -> None:
    assert resumed_seed(42, 0) == 42  # an uninterrupted run is as it always was
    seeds = {resumed_seed(42, epochs) for epochs in (1, 2, 3)}
    assert len(seeds) == 3 and 42 not in seeds
    assert resumed_seed(42, 2) == resumed_seed(42, 2)


def test_a_torn_weights_file_means_a_fresh_start_from_fresh_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "0.epochs"
    _fit(directory, epochs=2)
    weights = directory / "epoch-2.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert read_backup(directory).epochs == 2  # the state names it: only loading finds out

    model = _model()
    backup = EpochBackup(directory, read_backup(directory), _stopping())
    assert backup.restore(model) == Resumed()
    assert "cannot be read" in capsys.readouterr().out
    for kept, fresh in zip(model.get_weights(), _model().get_weights(), strict=True):
        np.testing.assert_array_equal(kept, fresh)
    assert int(model.optimizer.iterations.numpy()) == 0
    assert backup.history == {}


def test_a_backup_that_cannot_be_written_does_not_stop_the_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    model, backup = _fit(blocked, epochs=2)
    assert int(model.optimizer.iterations.numpy()) == 2 * STEPS
    assert len(backup.history["loss"]) == 2
    assert "epoch 2: no backup written" in capsys.readouterr().out


def test_a_run_the_early_stopping_ended_is_marked_so_it_is_not_trained_on(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "0.epochs"
    model = _model()
    never_good_enough = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=0, baseline=2.0
    )
    backup = EpochBackup(directory, read_backup(directory), never_good_enough)
    model.fit(
        ROWS,
        TARGETS,
        batch_size=16,
        epochs=5,
        validation_data=(ROWS[:16], TARGETS[:16]),
        callbacks=[never_good_enough, backup],
        verbose=0,
    )
    resumed = read_backup(directory)
    assert resumed.epochs == 2 and resumed.stopped  # stopped after its second of five
