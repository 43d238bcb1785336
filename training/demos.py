"""Toy sequence demos from the seed notebook (sections 2, 4 and 5), done right.

The lesson: a SimpleRNN learns a short sliding window, but on the long-dependency
"multiplication problem" of the LSTM paper (Hochreiter & Schmidhuber 1997) only gated
cells (LSTM, GRU) beat the predict-the-mean baseline.  The seed notebook hid that lesson
behind two bugs which this module avoids: it sliced 2,560 samples out of 1,000, and its
"GRU" section trained the LSTM again (``mdoel`` typo).

Everything here is plain Python with no Telegram knowledge, so the CLI, the tests and the
bot's worker process share one implementation.  TensorFlow and Keras are imported lazily
inside functions: importing this module must stay cheap for the bot's event loop.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from training.protocol import (
    DemoCommand,
    EventKind,
    ProgressEvent,
    event_writer,
    exit_when_parent_dies,
    protocol_stream,
)
from training.quiet import quiet_tensorflow

if TYPE_CHECKING:
    import keras

DEMOS: tuple[str, ...] = ("rnn", "lstm", "gru")
# Chosen by measurement (docs/results.md, the recurrent-network demos): each demo fits in
# 90 s on 2 CPU cores.
DEFAULT_EPOCHS: Mapping[str, int] = {"rnn": 300, "lstm": 50, "gru": 40}
MAX_EPOCHS = 500
MAX_SEED = 2**31 - 1
# Bump when a change to this module makes earlier cached results misleading.
CACHE_VERSION = 1

WINDOW_QUERY: tuple[float, ...] = (-0.1, 0.0, 0.1, 0.2)
WINDOW_TARGET = 0.3

EpochCallback = Callable[[str, int, int, Mapping[str, float]], None]
"""``on_epoch(model_name, epoch, epochs, logs)``; ``epoch`` counts from 1."""


class DemoArgumentError(ValueError):
    """A demo request the caller can fix (unknown demo, epochs or seed out of range)."""


@dataclass(frozen=True)
class DemoSettings:
    """Knobs of the demos; tests shrink the data so a run takes seconds, not a minute.

    The defaults were measured on a 2-core CPU.  On this task a gated model first sits
    on the predict-the-mean plateau and then drops within a few epochs; the plateau's
    length is what costs time.  A large learning rate with gradient clipping shortens
    it (LSTM, seeds 0-3: 20-33 epochs at 2e-2, 18-39 at 1e-2; the seed's 1e-3 sat on it
    for all of its 100 epochs), and one recurrent layer instead of the seed's two halves
    the cost of a step without lengthening the plateau.  A step's cost is mostly
    per-timestep loop overhead, so batches of 64 cost little more than batches of 32.
    """

    n_train: int = 2048
    n_val: int = 512
    seq_len: int = 100
    units: int = 30
    depth: int = 1
    batch_size: int = 64
    learning_rate: float = 2e-2
    clipnorm: float = 1.0
    window_learning_rate: float = 3e-2


@dataclass
class ModelResult:
    """One trained model's figures; ``history`` keeps every epoch for the chart."""

    params: int
    layers: list[str]
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        return self.history["loss"][-1]

    @property
    def val_loss(self) -> float:
        return self.history["val_loss"][-1]

    def to_dict(self, *, with_history: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "params": self.params,
            "loss": self.loss,
            "val_loss": self.val_loss,
            "layers": self.layers,
        }
        if with_history:
            out["history"] = self.history
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelResult:
        history = data.get("history") or {
            "loss": [data["loss"]],
            "val_loss": [data["val_loss"]],
        }
        return cls(int(data["params"]), list(data["layers"]), dict(history))


class Outcome(StrEnum):
    """What a model's validation MSE says, measured against predicting the mean."""

    LEARNED = "learned"  # below LEARNED_BELOW of the baseline
    PARTLY = "partly"
    FAILED = "failed"  # FAILED_ABOVE of the baseline or more: it learned the mean, no more


LEARNED_BELOW = 0.25
FAILED_ABOVE = 0.75


@dataclass
class DemoResult:
    """What a demo run reports; JSON-serialisable so it can be cached and sent across
    a process boundary."""

    demo: str
    epochs: int
    seed: int
    seconds: float
    baseline_mse: float
    samples: dict[str, int]
    models: dict[str, ModelResult]
    settings: dict[str, Any] = field(default_factory=dict)
    prediction: float | None = None
    target: float | None = None

    def to_dict(self, *, with_history: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "demo": self.demo,
            "epochs": self.epochs,
            "seed": self.seed,
            "seconds": self.seconds,
            "samples": self.samples,
            "baseline_mse": self.baseline_mse,
            "models": {n: m.to_dict(with_history=with_history) for n, m in self.models.items()},
        }
        if self.prediction is not None:
            out["prediction"] = self.prediction
            out["target"] = self.target
        out["settings"] = self.settings
        return out

    def to_json(self, *, with_history: bool = True) -> str:
        return json.dumps(self.to_dict(with_history=with_history), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DemoResult:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DemoResult:
        return cls(
            demo=data["demo"],
            epochs=int(data["epochs"]),
            seed=int(data["seed"]),
            seconds=float(data["seconds"]),
            baseline_mse=float(data["baseline_mse"]),
            samples=dict(data["samples"]),
            models={n: ModelResult.from_dict(m) for n, m in data["models"].items()},
            settings=dict(data.get("settings", {})),
            prediction=data.get("prediction"),
            target=data.get("target"),
        )

    def share_of_baseline(self, model: str) -> float:
        val_loss = self.models[model].val_loss
        return val_loss / self.baseline_mse if self.baseline_mse else float("inf")

    def outcome(self, model: str) -> Outcome:
        share = self.share_of_baseline(model)
        if share < LEARNED_BELOW:
            return Outcome.LEARNED
        return Outcome.FAILED if share >= FAILED_ABOVE else Outcome.PARTLY

    def table(self) -> str:
        """A plain-text report for a terminal or a chat message (monospace)."""
        rows = [f"{'model':<10} {'params':>7} {'loss':>9} {'val_loss':>9} {'val/base':>8}"]
        for name, m in self.models.items():
            ratio = m.val_loss / self.baseline_mse
            rows.append(f"{name:<10} {m.params:>7} {m.loss:>9.5f} {m.val_loss:>9.5f} {ratio:>8.3f}")
        rows.append(f"{'mean':<10} {'-':>7} {'-':>9} {self.baseline_mse:>9.5f} {1:>8.3f}")
        rows.append(
            f"samples: train {self.samples['train']}, validation {self.samples['val']}; "
            f"epochs {self.epochs}, seed {self.seed}, {self.seconds:.1f} s"
        )
        if self.prediction is not None:
            query = ", ".join(f"{v:.1f}" for v in WINDOW_QUERY)
            rows.append(f"prediction for [{query}]: {self.prediction:.4f} (target {self.target})")
        return "\n".join(rows)


def validate_args(demo: str, epochs: int | None, seed: int) -> tuple[str, int, int]:
    """Check a request up front so the bot can answer "wrong arguments" instead of
    starting a worker that would fail; returns the arguments with defaults filled in."""
    if demo not in DEMOS:
        raise DemoArgumentError(f"unknown demo {demo!r}: choose one of {', '.join(DEMOS)}")
    if epochs is None:
        epochs = DEFAULT_EPOCHS[demo]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise DemoArgumentError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise DemoArgumentError(f"seed must be a whole number from 0 to {MAX_SEED}")
    return demo, epochs, seed


# ---------------------------------------------------------------------------- data


def make_window_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seed's section 2 windows: four numbers predict the next.

    Training is the seed's six windows (0.0-0.3 -> 0.4 ... 0.5-0.8 -> 0.9).  Validation
    is one window past each end, which includes the seed's own question
    [-0.1, 0.0, 0.1, 0.2] -> 0.3, so val_loss measures extrapolation, the point of it.
    """

    def windows(starts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([[[(i + k) / 10] for k in range(4)] for i in starts], dtype="float32")
        y = np.array([(i + 4) / 10 for i in starts], dtype="float32")
        return x, y

    x_train, y_train = windows(range(6))
    x_val, y_val = windows([-1, 6])
    return x_train, y_train, x_val, y_val


def make_multiplication_data(
    n: int, rng: np.random.Generator, seq_len: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """The seed's section 4 task: feature 0 marks exactly two steps, feature 1 is
    uniform noise, the target is the product of the two marked values.

    The answer depends on values up to ``seq_len`` steps back, which is what defeats
    a SimpleRNN.  Positions are the first two of a random permutation per row, so they
    are always distinct, as with the seed's ``choice(100, 2, replace=False)``.
    """
    values = rng.random((n, seq_len))
    positions = np.argsort(rng.random((n, seq_len)), axis=1)[:, :2]
    rows = np.arange(n)[:, None]
    markers = np.zeros((n, seq_len))
    markers[rows, positions] = 1.0
    x = np.stack([markers, values], axis=-1).astype("float32")
    y = values[rows, positions].prod(axis=1).astype("float32")
    return x, y


def baseline_mse(y_train: np.ndarray, y_val: np.ndarray) -> float:
    """Validation MSE of always answering the training mean: the bar a model must beat
    to have learned anything at all."""
    return float(np.mean((y_val.astype("float64") - float(np.mean(y_train))) ** 2))


# ---------------------------------------------------------------------------- models


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed every RNG and make TF ops deterministic, then restore the previous op mode.

    Restoring matters because op determinism is process-wide: left on, it would change
    other code in the same process (e.g. other tests), such as disabling XLA.
    """
    quiet_tensorflow()
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was_enabled = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def build_model(
    kind: str,
    input_shape: tuple[int, int],
    units: int,
    depth: int,
    learning_rate: float,
    *,
    clipnorm: float | None = None,
) -> keras.Model:
    """``depth`` stacked recurrent layers of ``kind`` and a linear Dense(1), compiled
    with adam + mse as in the seed."""
    quiet_tensorflow()
    import keras

    cell = {
        "SimpleRNN": keras.layers.SimpleRNN,
        "LSTM": keras.layers.LSTM,
        "GRU": keras.layers.GRU,
    }[kind]
    stack: list[Any] = [keras.Input(shape=input_shape)]
    stack += [cell(units, return_sequences=i < depth - 1) for i in range(depth)]
    stack.append(keras.layers.Dense(1))
    model = keras.Sequential(stack, name=kind.lower())
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _progress_callback(name: str, epochs: int, on_epoch: EpochCallback | None) -> Any:
    import keras

    class Progress(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            if on_epoch is not None:
                on_epoch(name, epoch + 1, epochs, {k: float(v) for k, v in (logs or {}).items()})

    return Progress()


def _fit(
    name: str,
    model: keras.Model,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int,
    on_epoch: EpochCallback | None,
) -> ModelResult:
    x_train, y_train, x_val, y_val = data
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        # One validation pass per epoch instead of eight: the per-batch loop overhead,
        # not arithmetic, dominates on a CPU.
        validation_batch_size=len(x_val),
        shuffle=True,
        verbose=0,
        callbacks=[_progress_callback(name, epochs, on_epoch)],
    )
    return ModelResult(
        params=int(model.count_params()),
        layers=[type(layer).__name__ for layer in model.layers],
        history={k: [float(v) for v in history.history[k]] for k in ("loss", "val_loss")},
    )


def _fit_full_batch(
    name: str,
    model: keras.Model,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    epochs: int,
    on_epoch: EpochCallback | None,
) -> ModelResult:
    """One full-batch step per epoch, as the seed's ``fit`` on six samples did.

    ``train_on_batch`` instead of ``fit`` because ``fit``'s per-epoch set-up (data
    adapters, validation iterators) costs ~100x the step itself on six samples.
    """
    x_train, y_train, x_val, y_val = data
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for epoch in range(1, epochs + 1):
        loss = float(model.train_on_batch(x_train, y_train))
        val_loss = float(model.test_on_batch(x_val, y_val))
        history["loss"].append(loss)
        history["val_loss"].append(val_loss)
        if on_epoch is not None:
            on_epoch(name, epoch, epochs, {"loss": loss, "val_loss": val_loss})
    return ModelResult(
        params=int(model.count_params()),
        layers=[type(layer).__name__ for layer in model.layers],
        history=history,
    )


# ---------------------------------------------------------------------------- demos


def rnn(
    epochs: int | None = None,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    settings: DemoSettings | None = None,
) -> DemoResult:
    """Seed section 2: SimpleRNN(10) learns "next number" on six short windows."""
    _, epochs, seed = validate_args("rnn", epochs, seed)
    settings = settings or DemoSettings()
    started = time.perf_counter()
    data = make_window_data()
    with deterministic(seed):
        model = build_model("SimpleRNN", (4, 1), 10, 1, settings.window_learning_rate)
        result = _fit_full_batch("SimpleRNN", model, data, epochs, on_epoch)
        query = np.array([[[v] for v in WINDOW_QUERY]], dtype="float32")
        prediction = float(model.predict(query, verbose=0)[0, 0])
    return DemoResult(
        demo="rnn",
        epochs=epochs,
        seed=seed,
        seconds=round(time.perf_counter() - started, 1),
        baseline_mse=baseline_mse(data[1], data[3]),
        samples={"train": len(data[0]), "val": len(data[2])},
        models={"SimpleRNN": result},
        settings={"learning_rate": settings.window_learning_rate, "units": 10},
        prediction=prediction,
        target=WINDOW_TARGET,
    )


def _multiplication_demo(
    demo: str,
    kinds: tuple[str, str],
    epochs: int | None,
    seed: int,
    on_epoch: EpochCallback | None,
    settings: DemoSettings | None,
) -> DemoResult:
    """Train each of ``kinds`` on the same data with the same seed.

    Reseeding before each model makes a model's curve independent of what was trained
    before it, so the LSTM of ``lstm`` and of ``gru`` is the very same run.
    """
    _, epochs, seed = validate_args(demo, epochs, seed)
    s = settings or DemoSettings()
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    x_train, y_train = make_multiplication_data(s.n_train, rng, s.seq_len)
    x_val, y_val = make_multiplication_data(s.n_val, rng, s.seq_len)
    data = (x_train, y_train, x_val, y_val)
    models: dict[str, ModelResult] = {}
    for kind in kinds:
        with deterministic(seed):
            model = build_model(
                kind, (s.seq_len, 2), s.units, s.depth, s.learning_rate, clipnorm=s.clipnorm
            )
            models[kind] = _fit(kind, model, data, epochs, s.batch_size, on_epoch)
    return DemoResult(
        demo=demo,
        epochs=epochs,
        seed=seed,
        seconds=round(time.perf_counter() - started, 1),
        baseline_mse=baseline_mse(y_train, y_val),
        samples={"train": s.n_train, "val": s.n_val},
        models=models,
        settings={k: v for k, v in asdict(s).items() if k != "window_learning_rate"},
    )


def lstm(
    epochs: int | None = None,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    settings: DemoSettings | None = None,
) -> DemoResult:
    """Seed section 4: SimpleRNN against LSTM on the multiplication problem."""
    return _multiplication_demo("lstm", ("SimpleRNN", "LSTM"), epochs, seed, on_epoch, settings)


def gru(
    epochs: int | None = None,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    settings: DemoSettings | None = None,
) -> DemoResult:
    """Seed section 5, with a real GRU this time: GRU against LSTM."""
    return _multiplication_demo("gru", ("GRU", "LSTM"), epochs, seed, on_epoch, settings)


def run_demo(
    demo: str,
    epochs: int | None = None,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    settings: DemoSettings | None = None,
) -> DemoResult:
    """Run a demo by name. Its chart is drawn by the bot (bot.charts.demo_chart), in the
    asker's language, from the result's histories."""
    demo, epochs, seed = validate_args(demo, epochs, seed)
    return {"rnn": rnn, "lstm": lstm, "gru": gru}[demo](epochs, seed, on_epoch, settings)


# ---------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Run one demo with a tqdm bar on stderr; the last stdout line is the JSON summary,
    so scripts can ``tail -n 1`` it. With ``--events`` (the bot's worker), stdout carries
    the protocol's events instead: each epoch, then the result or the error."""
    command = DemoCommand.parse(
        argv,
        description="Toy sequence demos: SimpleRNN windows, and the multiplication problem "
        "where LSTM and GRU beat SimpleRNN.",
    )
    if command.events:
        return _run_with_events(command)
    from tqdm import tqdm

    epochs = command.epochs or DEFAULT_EPOCHS[command.demo]
    n_models = 1 if command.demo == "rnn" else 2
    with tqdm(total=epochs * n_models, unit="epoch", file=sys.stderr) as bar:

        def on_epoch(name: str, epoch: int, epochs: int, logs: Mapping[str, float]) -> None:
            bar.set_description(f"{name} {epoch}/{epochs}")
            bar.set_postfix(
                loss=f"{logs.get('loss', math.nan):.4f}",
                val_loss=f"{logs.get('val_loss', math.nan):.4f}",
            )
            bar.update(1)

        result = _run(command, on_epoch)
    print(result.table())
    print(result.to_json(with_history=False), flush=True)
    return 0


def _run(command: DemoCommand, on_epoch: EpochCallback) -> DemoResult:
    return run_demo(command.demo, command.epochs, command.seed, on_epoch, command.settings)


def _run_with_events(command: DemoCommand) -> int:
    """The bot's worker: an EPOCH event per epoch, then DONE with the result (or ERROR)."""
    if command.watch_stdin:
        exit_when_parent_dies()
    emit = event_writer(protocol_stream())

    def on_epoch(name: str, epoch: int, epochs: int, logs: Mapping[str, float]) -> None:
        loss = logs.get("loss")
        emit(
            ProgressEvent(
                EventKind.EPOCH,
                member_name=name,
                epoch=epoch,
                epochs=epochs,
                loss=None if loss is None else float(loss),
            )
        )

    try:
        result = _run(command, on_epoch)
    except Exception as exc:  # the worker's top level: the parent gets the reason
        emit(ProgressEvent(EventKind.ERROR, error=f"{type(exc).__name__}: {exc}"))
        raise
    emit(ProgressEvent(EventKind.DONE, status="done", demo=result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
