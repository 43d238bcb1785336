"""A terminal progress bar for Keras training that can also report to a caller.

The same events drive the tqdm bar and, through `on_epoch`, an edited Telegram message.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import keras
from tqdm import tqdm

EpochCallback = Callable[[int, int, dict[str, float]], None]


class RunProgress:
    """One bar over every member's epochs, so `make train` says how long the whole run has
    left, not only the current epoch (tqdm's estimate: the mean epoch time so far times the
    epochs left). A member that stops early is counted as its planned epochs."""

    def __init__(self, epochs_per_member: list[int], title: str, enabled: bool = True) -> None:
        self.planned = [sum(epochs_per_member[: i + 1]) for i in range(len(epochs_per_member))]
        self.bar = tqdm(
            total=self.planned[-1] if self.planned else 0,
            desc=title,
            unit="epoch",
            position=0,
            disable=not enabled,
        )

    def counting(self, index: int, on_epoch: EpochCallback | None) -> EpochCallback:
        """Member `index`'s epoch reports move the bar to where they say, so a member that
        resumed at its fifth epoch counts the four an earlier run finished."""
        start = self.planned[index - 1] if index else 0

        def counted(epoch: int, epochs: int, logs: dict[str, float]) -> None:
            self.bar.update(start + epoch - self.bar.n)
            if on_epoch is not None:
                on_epoch(epoch, epochs, logs)

        return counted

    def member_done(self, index: int) -> None:
        self.bar.update(self.planned[index] - self.bar.n)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.bar.close()


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
