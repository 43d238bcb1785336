"""The toy sequence demos (/rnn, /lstm, /gru) and their process-isolated runner.

Demos run with few epochs on shrunken data so the whole file stays well under 90 s on
two cores; the full-size figures are measured by the CLI (docs/results.md, the
recurrent-network demos).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from bot import demo_runner as runner_module
from bot.charts import demo_chart
from bot.demo_runner import DemoRunner, DemoWorkerError
from training.demos import (
    DEFAULT_EPOCHS,
    WINDOW_QUERY,
    DemoArgumentError,
    DemoResult,
    DemoSettings,
    baseline_mse,
    gru,
    lstm,
    make_multiplication_data,
    make_window_data,
    rnn,
    validate_args,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = DemoSettings(n_train=128, n_val=64, batch_size=64)
# One recurrent layer of 30 units on 2 features, then Dense(1): 31 parameters.
GRU_PARAMS = 3 * 30 * (2 + 30 + 2) + 31  # Keras' GRU has two bias vectors (reset_after)
LSTM_PARAMS = 4 * 30 * (2 + 30 + 1) + 31
SIMPLE_RNN_PARAMS = 30 * (2 + 30 + 1) + 31


class Recorder:
    """Collects on_epoch calls so tests can check what a progress bar would see."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, name: str, epoch: int, epochs: int, logs: Mapping[str, float]) -> None:
        assert set(logs) >= {"loss", "val_loss"}
        self.calls.append((name, epoch, epochs))


@pytest.fixture(scope="module")
def gru_runs() -> tuple[DemoResult, DemoResult, Recorder]:
    """The GRU demo twice with one seed: shared by the GRU and determinism tests."""
    recorder = Recorder()
    first = gru(epochs=2, seed=7, on_epoch=recorder, settings=SMALL)
    second = gru(epochs=2, seed=7, settings=SMALL)
    return first, second, recorder


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("demo", "epochs", "seed", "fragment"),
    [
        ("cnn", 3, 0, "unknown demo"),
        ("gru", 0, 0, "epochs"),
        ("gru", 501, 0, "epochs"),
        ("gru", True, 0, "epochs"),
        ("gru", "5", 0, "epochs"),
        ("rnn", 5, -1, "seed"),
        ("rnn", 5, 2**31, "seed"),
    ],
)
def test_bad_arguments_raise_a_value_error_that_names_the_problem(
    demo: str, epochs: object, seed: int, fragment: str
) -> None:
    with pytest.raises(DemoArgumentError, match=fragment) as caught:
        validate_args(demo, epochs, seed)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


def test_default_epochs_are_filled_in() -> None:
    assert validate_args("lstm", None, 0) == ("lstm", DEFAULT_EPOCHS["lstm"], 0)
    assert validate_args("gru", 500, 2**31 - 1) == ("gru", 500, 2**31 - 1)


# ---------------------------------------------------------------- data


def test_multiplication_data_marks_two_steps_and_multiplies_their_values() -> None:
    x, y = make_multiplication_data(300, np.random.default_rng(1))
    assert x.shape == (300, 100, 2) and y.shape == (300,)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert (x[..., 0].sum(axis=1) == 2).all()
    assert set(np.unique(x[..., 0])) == {0.0, 1.0}
    marked = np.where(x[..., 0] == 1, x[..., 1], 1.0).prod(axis=1)
    np.testing.assert_allclose(y, marked, rtol=1e-6)
    assert x[..., 1].min() >= 0 and x[..., 1].max() < 1


def test_multiplication_data_is_reproducible_per_seed() -> None:
    a = make_multiplication_data(50, np.random.default_rng(3))
    b = make_multiplication_data(50, np.random.default_rng(3))
    c = make_multiplication_data(50, np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_baseline_is_the_validation_mse_of_the_training_mean() -> None:
    assert baseline_mse(np.array([1.0, 3.0]), np.array([2.0, 4.0])) == pytest.approx(2.0)
    _, y_train = make_multiplication_data(4000, np.random.default_rng(0))
    _, y_val = make_multiplication_data(4000, np.random.default_rng(1))
    # Var(a*b) for independent U(0,1) a, b is 1/9 - 1/16 = 7/144.
    assert baseline_mse(y_train, y_val) == pytest.approx(7 / 144, rel=0.1)


def test_window_data_is_the_seed_windows_with_the_question_held_out() -> None:
    x_train, y_train, x_val, y_val = make_window_data()
    assert x_train.shape == (6, 4, 1)
    np.testing.assert_allclose(x_train[0, :, 0], [0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(y_train, [0.4, 0.5, 0.6, 0.7, 0.8, 0.9], rtol=1e-6)
    np.testing.assert_allclose(x_val[0, :, 0], WINDOW_QUERY, atol=1e-7)
    np.testing.assert_allclose(y_val, [0.3, 1.0], rtol=1e-6)


# ---------------------------------------------------------------- demos


@pytest.mark.slow
def test_rnn_demo_reports_prediction_and_progress() -> None:
    recorder = Recorder()
    result = rnn(epochs=40, seed=0, on_epoch=recorder)
    model = result.models["SimpleRNN"]
    assert list(result.models) == ["SimpleRNN"]
    assert model.params == 131  # as in the seed's summary
    assert model.layers == ["SimpleRNN", "Dense"]
    assert len(model.history["loss"]) == len(model.history["val_loss"]) == 40
    assert recorder.calls == [("SimpleRNN", e, 40) for e in range(1, 41)]
    assert result.target == 0.3 and isinstance(result.prediction, float)
    assert result.samples == {"train": 6, "val": 2}
    assert result.baseline_mse == pytest.approx(((0.3 - 0.65) ** 2 + (1.0 - 0.65) ** 2) / 2)
    assert model.history["loss"][-1] < model.history["loss"][0]


def test_gru_demo_really_trains_a_gru(gru_runs: tuple[DemoResult, DemoResult, Recorder]) -> None:
    result, _, recorder = gru_runs
    assert list(result.models) == ["GRU", "LSTM"]
    assert result.models["GRU"].layers == ["GRU", "Dense"]
    assert result.models["LSTM"].layers == ["LSTM", "Dense"]
    assert result.models["GRU"].params == GRU_PARAMS
    assert result.models["LSTM"].params == LSTM_PARAMS
    # The seed's "GRU" curve was the LSTM's: the two must be different runs.
    assert result.models["GRU"].history != result.models["LSTM"].history
    expected = [("GRU", 1, 2), ("GRU", 2, 2), ("LSTM", 1, 2), ("LSTM", 2, 2)]
    assert recorder.calls == expected
    assert result.samples == {"train": SMALL.n_train, "val": SMALL.n_val}


def test_demo_is_deterministic_for_a_seed(
    gru_runs: tuple[DemoResult, DemoResult, Recorder],
) -> None:
    first, second, _ = gru_runs
    for name in ("GRU", "LSTM"):
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(
                first.models[name].history[key], second.models[name].history[key], atol=1e-6
            )
    assert first.baseline_mse == second.baseline_mse


def test_lstm_demo_pits_simple_rnn_against_the_same_lstm_run(
    gru_runs: tuple[DemoResult, DemoResult, Recorder],
) -> None:
    result = lstm(epochs=2, seed=7, settings=SMALL)
    assert list(result.models) == ["SimpleRNN", "LSTM"]
    assert result.models["SimpleRNN"].layers == ["SimpleRNN", "Dense"]
    assert result.models["SimpleRNN"].params == SIMPLE_RNN_PARAMS
    # Reseeding before each model makes the LSTM independent of what trained before it.
    np.testing.assert_allclose(
        result.models["LSTM"].history["val_loss"],
        gru_runs[0].models["LSTM"].history["val_loss"],
        atol=1e-6,
    )


def test_result_survives_json_and_draws_a_chart(
    gru_runs: tuple[DemoResult, DemoResult, Recorder],
) -> None:
    result = gru_runs[0]
    again = DemoResult.from_json(result.to_json())
    assert again == result
    summary = json.loads(result.to_json(with_history=False))
    assert set(summary["models"]["GRU"]) >= {"params", "loss", "val_loss"}
    assert "history" not in summary["models"]["GRU"]
    png = demo_chart(again)  # the bot draws the chart from the result, as it sends it
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert "GRU" in result.table() and "mean" in result.table()


# ---------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.demos", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_cli_prints_a_table_and_ends_with_a_json_line() -> None:
    done = _cli("lstm", "--epochs", "1", "--seed", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["demo"] == "lstm" and summary["epochs"] == 1 and summary["seed"] == 2
    assert isinstance(summary["seconds"], float) and summary["baseline_mse"] > 0
    assert summary["samples"] == {"train": 2048, "val": 512}
    assert set(summary["models"]) == {"SimpleRNN", "LSTM"}
    for figures in summary["models"].values():
        assert isinstance(figures["params"], int)
        assert figures["loss"] > 0 and figures["val_loss"] > 0
    assert any(line.startswith("LSTM") for line in lines[:-1])
    assert "epoch" in done.stderr  # the tqdm bar


@pytest.mark.slow
def test_cli_rnn_reports_prediction_and_target() -> None:
    done = _cli("rnn", "--epochs", "3")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["target"] == 0.3 and isinstance(summary["prediction"], float)
    assert summary["models"]["SimpleRNN"]["params"] == 131


@pytest.mark.slow
def test_cli_rejects_bad_arguments() -> None:
    done = _cli("gru", "--epochs", "0")
    assert done.returncode == 2
    assert "epochs must be a whole number from 1 to 500" in done.stderr


# ---------------------------------------------------------------- runner


@pytest.mark.slow
async def test_runner_queues_reports_progress_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = DemoRunner(tmp_path)
    places: dict[int, list[int]] = {0: [], 1: []}
    progress: dict[int, list[tuple[str, int, int]]] = {0: [], 1: []}
    queued = asyncio.Event()

    async def request(seed: int) -> DemoResult:
        async def on_queued(place: int) -> None:
            places[seed].append(place)
            queued.set()

        async def on_progress(model: str, epoch: int, epochs: int) -> None:
            progress[seed].append((model, epoch, epochs))

        return await runner.run("rnn", 4, seed, on_queued, on_progress)

    first = asyncio.create_task(request(0))
    await asyncio.sleep(0)  # let the first take the head of the line
    second = asyncio.create_task(request(1))
    await asyncio.wait_for(queued.wait(), 10)  # the second is told its place in the line
    assert runner.queue_length == 2
    results = await asyncio.gather(first, second)
    assert places == {0: [], 1: [1]}
    for seed in (0, 1):
        assert progress[seed] == [("SimpleRNN", e, 4) for e in range(1, 5)]
    assert runner.workers_started == 2 and runner.queue_length == 0
    assert results[0].seed == 0 and results[1].seed == 1
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".json", ".json"]  # no PNG

    async def no_spawn(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache hit must not start a worker")

    monkeypatch.setattr(runner_module.asyncio, "create_subprocess_exec", no_spawn)
    restarted = DemoRunner(tmp_path)
    hit = await restarted.run("rnn", 4, 0)  # a worker would have failed: no_spawn
    assert restarted.workers_started == 0
    assert hit == results[0]
    assert restarted.cached("rnn", 4, 1) is not None and restarted.cached("rnn", 5, 1) is None


async def test_runner_rejects_bad_arguments_without_a_worker(tmp_path: Path) -> None:
    runner = DemoRunner(tmp_path)
    with pytest.raises(DemoArgumentError, match="unknown demo"):
        await runner.run("transformer")
    with pytest.raises(ValueError, match="epochs"):
        await runner.run("gru", epochs=1000)
    with pytest.raises(ValueError, match="seed"):
        await runner.run("gru", seed=-5)
    assert runner.workers_started == 0 and runner.queue_length == 0


class ScriptedRunner(DemoRunner):
    """A runner whose worker is a stand-in script, to provoke failures cheaply."""

    def __init__(self, cache_dir: Path, script: str, **kwargs: float) -> None:
        super().__init__(cache_dir, **kwargs)  # type: ignore[arg-type]
        self.script = script

    def _worker_argv(self, demo: str, epochs: int, seed: int) -> list[str]:
        return [sys.executable, "-c", self.script]


@pytest.mark.slow
async def test_crashed_worker_raises_clearly_and_frees_the_line(tmp_path: Path, caplog) -> None:
    script = (
        'import sys; print(\'{"v": 1, "kind": "epoch"\', flush=True); '
        "print('CUDA exploded', file=sys.stderr); sys.exit(3)"
    )
    runner = ScriptedRunner(tmp_path, script)
    with pytest.raises(DemoWorkerError, match=r"exited with code 3:\nCUDA exploded"):
        await runner.run("gru", 3, 0)
    assert "skipped a line that is not an event" in caplog.text  # the garbled one
    runner.script = "import sys; print('CUDA exploded', file=sys.stderr); sys.exit(3)"
    with pytest.raises(DemoWorkerError, match=r"exited with code 3:\nCUDA exploded"):
        await runner.run("gru", 3, 0)
    assert runner.queue_length == 0
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left to be a cache hit


@pytest.mark.slow
async def test_hung_worker_times_out_and_is_killed(tmp_path: Path) -> None:
    runner = ScriptedRunner(tmp_path, "import time; time.sleep(60)", timeout=0.5)
    with pytest.raises(DemoWorkerError, match=r"did not finish within 0\.5 s"):
        await asyncio.wait_for(runner.run("lstm", 3, 0), 30)  # not the worker's 60 s
    assert runner.queue_length == 0


@pytest.mark.slow
async def test_waiting_requests_are_told_each_new_place(tmp_path: Path) -> None:
    runner = ScriptedRunner(tmp_path, "import sys, time; time.sleep(0.3); sys.exit(1)")
    places: list[list[int]] = [[], [], []]

    async def request(i: int) -> None:
        async def on_queued(place: int) -> None:
            places[i].append(place)

        with pytest.raises(DemoWorkerError, match="exited with code 1"):
            await runner.run("rnn", 5, i, on_queued=on_queued)

    tasks = []
    for i in range(3):
        tasks.append(asyncio.create_task(request(i)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert places == [[], [1], [2, 1]]
    assert runner.workers_started == 3 and runner.queue_length == 0


@pytest.mark.slow
async def test_aclose_kills_the_running_worker(tmp_path: Path) -> None:
    runner = ScriptedRunner(tmp_path, "import time; time.sleep(60)")
    task = asyncio.create_task(runner.run("gru", 3, 0))
    while runner.workers_started == 0:
        await asyncio.sleep(0.01)
    await runner.aclose()
    with pytest.raises(DemoWorkerError, match="exited with code -15"):  # SIGTERM
        await asyncio.wait_for(task, timeout=5)
