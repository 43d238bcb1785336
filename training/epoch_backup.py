"""The last finished epoch of the network being trained, kept so that a run stopped in its
third hour resumes at that epoch, not at the network's first: the student's first stage
trains one network for about two and a half hours (`make train-student`), and whole
members (training.checkpoints) are too coarse for it.

After each epoch this keeps the weights with the optimizer's state (its step count drives
the learning-rate schedule), the history so far and the early stopping's state (its best
epoch's weights too). `state.json`, written last and atomically, names the epoch whose
files are whole, so a kill at any moment leaves the previous epoch's backup usable.

A resumed run shuffles its remaining epochs from a seed derived from the epoch it resumes
at (`resumed_seed`): it is as good as an uninterrupted run, not the same bit for bit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

STATE = "state.json"


@dataclass(frozen=True)
class Resumed:
    """What an earlier run of this network finished: `epochs` of them, with their history;
    `stopped` when the early stopping had ended it (only the saving was left)."""

    epochs: int = 0
    stopped: bool = False
    history: dict[str, list[float]] = field(default_factory=dict)
    stopping: dict[str, Any] = field(default_factory=dict)


def resumed_seed(seed: int, epochs_done: int) -> int:
    """The run's own seed for a fresh run; for one resumed after `epochs_done`, a seed of its
    own, so the remaining epochs do not replay the first epochs' shuffles."""
    if epochs_done == 0:
        return seed
    return int(np.random.SeedSequence([seed, epochs_done]).generate_state(1)[0])


def read_backup(directory: Path) -> Resumed:
    """The backup's epochs and history, or a fresh start when there is none or it cannot be
    read (a run that cannot resume trains from its first epoch rather than failing)."""
    try:
        state = json.loads((directory / STATE).read_text(encoding="utf-8"))
        epochs = int(state["epochs"])
        if epochs < 1 or not _weights_path(directory, epochs).is_file():
            return Resumed()
        return Resumed(
            epochs, bool(state.get("stopped")), state["history"], state.get("stopping", {})
        )
    except (OSError, ValueError, KeyError, TypeError):
        return Resumed()


class EpochBackup(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
    """Writes the backup at each epoch's end and, at the start of training, puts the early
    stopping's state back. Place it after the early stopping callback: Keras calls
    callbacks in order, so the stopping's own reset and its verdict on the epoch come first.
    """

    def __init__(
        self,
        directory: Path,
        resumed: Resumed,
        stopping: keras.callbacks.EarlyStopping | None = None,
    ) -> None:
        super().__init__()
        self.directory = directory
        self.resumed = resumed
        self.stopping = stopping
        self.history = {key: list(values) for key, values in resumed.history.items()}
        self._best_weights: list[np.ndarray] | None = None
        self._stopping_state: tuple[int, float | None, int] | None = None

    def restore(self, model: Any) -> Resumed:
        """Puts the last backed-up epoch's weights and optimizer state into `model` (before
        `fit`) and returns what is resumed: a fresh start if its files cannot be read."""
        if self.resumed.epochs == 0:
            return self.resumed
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        fresh = model.get_weights(), [v.numpy() for v in model.optimizer.variables]
        try:
            model.load_weights(_weights_path(self.directory, self.resumed.epochs))
            if saved := self.resumed.stopping:
                self._stopping_state = (
                    int(saved["wait"]),
                    None if saved["best"] is None else float(saved["best"]),
                    int(saved["best_epoch"]),
                )
            best = _best_path(self.directory, self.resumed.epochs)
            if best.is_file():
                with np.load(best) as arrays:
                    self._best_weights = [arrays[f"w{i}"] for i in range(len(arrays.files))]
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"the last epoch's backup cannot be read ({error}): training from the start")
            self.resumed = Resumed()
            self.history = {}
            self._best_weights = self._stopping_state = None
            model.set_weights(fresh[0])  # a file that broke midway may have loaded a part
            for variable, value in zip(model.optimizer.variables, fresh[1], strict=True):
                variable.assign(value)
        return self.resumed

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopping is None or self._stopping_state is None:
            return
        self.stopping.wait, self.stopping.best, self.stopping.best_epoch = self._stopping_state
        self.stopping.best_weights = self._best_weights

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        try:
            self._write(epoch + 1)
        except OSError as error:  # a full disk costs the resume, not the run
            print(f"epoch {epoch + 1}: no backup written ({error}); training goes on")

    def _write(self, epochs: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model.save_weights(_weights_path(self.directory, epochs), overwrite=True)
        state: dict[str, Any] = {
            "epochs": epochs,
            "stopped": bool(self.model.stop_training),
            "history": self.history,
        }
        if self.stopping is not None:
            best = self.stopping.best
            state["stopping"] = {
                "wait": self.stopping.wait,
                "best": None if best is None else float(best),
                "best_epoch": self.stopping.best_epoch,
            }
            if self.stopping.best_weights is not None:
                weights = {f"w{i}": w for i, w in enumerate(self.stopping.best_weights)}
                np.savez(_best_path(self.directory, epochs), **weights)
        temporary = self.directory / f"{STATE}.tmp"
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.directory / STATE)
        for path in self.directory.iterdir():
            if path.name.startswith("epoch-") and not path.name.startswith(f"epoch-{epochs}."):
                path.unlink(missing_ok=True)


def _weights_path(directory: Path, epochs: int) -> Path:
    return directory / f"epoch-{epochs}.weights.h5"


def _best_path(directory: Path, epochs: int) -> Path:
    return directory / f"epoch-{epochs}.best.npz"
