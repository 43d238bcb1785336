"""A terminal progress bar for Keras training that can also report to a caller.

The same events drive the tqdm bar and, through `on_epoch`, an edited Telegram message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from tqdm import tqdm


class EpochProgress(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
    def __init__(
        self,
        epochs: int,
        steps: int,
        on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.on_epoch = on_epoch
        self.enabled = enabled
        self._bar: tqdm | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._bar = tqdm(
            total=self.steps,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            unit="batch",
            disable=not self.enabled,
        )

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if logs and batch % 20 == 0:
                self._bar.set_postfix(loss=f"{logs['loss']:.4f}", acc=f"{logs['accuracy']:.4f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        figures = {key: float(value) for key, value in (logs or {}).items()}
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in figures.items()})
            self._bar.close()
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1, self.epochs, figures)
