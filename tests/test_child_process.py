"""The one supervisor of child processes (bot.child_process) and the one wire protocol
(training.protocol), with tiny real children: `python -c` scripts that speak the protocol,
hang, ignore SIGTERM, write garbage or fail."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from bot.child_process import Child, ChildCommand, ChildExit, Ending
from training.demos import DEFAULT_EPOCHS, DemoResult, DemoSettings
from training.protocol import (
    PROTOCOL_VERSION,
    DemoCommand,
    EventKind,
    ProgressEvent,
    RetrainCommand,
    Stage,
    TrainCommand,
)

ROOT = Path(__file__).resolve().parents[1]
EMIT = "from training.protocol import *\nstream = protocol_stream()\nemit = event_writer(stream)\n"


def _script(body: str) -> tuple[str, ...]:
    return (sys.executable, "-c", EMIT + textwrap.dedent(body))


async def _run(child: Child, events: list[ProgressEvent] | None = None) -> ChildExit:
    async def on_event(event: ProgressEvent) -> None:
        if events is not None:
            events.append(event)

    return await asyncio.wait_for(child.run(on_event), timeout=60)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        await asyncio.sleep(0.05)


# --- the protocol -------------------------------------------------------------------------


def test_a_demo_result_travels_as_a_typed_done_event() -> None:
    result = DemoResult.from_dict(
        {
            "demo": "gru",
            "epochs": 2,
            "seed": 0,
            "seconds": 1.5,
            "baseline_mse": 0.04,
            "samples": {"train": 128, "val": 64},
            "models": {
                "GRU": {
                    "params": 3271,
                    "layers": ["GRU", "Dense"],
                    "history": {"loss": [0.05, 0.01], "val_loss": [0.06, 0.02]},
                },
            },
        }
    )
    event = ProgressEvent(EventKind.DONE, status="done", demo=result)
    line = event.to_json()
    assert "\n" not in line and f'"v": {PROTOCOL_VERSION}' in line
    decoded = ProgressEvent.from_json(line)
    assert decoded == event and decoded.final
    assert decoded.demo is not None and decoded.demo.models["GRU"].val_loss == 0.02


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"kind": "done"}',  # no version
        '{"v": 999, "kind": "done"}',  # another version
        '{"v": 1, "kind": "finished"}',  # an unknown kind
        '{"v": 1, "kind": "epoch", "colour": "red"}',  # an unknown field
        '{"v": 1, "kind": "done", "demo": {"demo": "gru"}}',  # a broken result
        '{"@@demo ": 1}',
    ],
)
def test_a_line_that_is_not_an_event_of_this_version_decodes_to_none(line: str) -> None:
    assert ProgressEvent.from_json(line) is None


def test_progress_events_round_trip_without_empty_fields() -> None:
    event = ProgressEvent(EventKind.EPOCH, Stage.TRAINING, member_name="LSTM", epoch=3, epochs=9)
    assert ProgressEvent.from_json(event.to_json()) == event
    assert "error" not in event.to_json() and not event.final


@pytest.mark.parametrize(
    "command",
    [
        RetrainCommand(Path("/r"), Path("rows.json")),
        RetrainCommand(
            Path("/r e g"),
            Path("rows.json"),
            out_result=Path("out.json"),
            recipe=Path("recipe.json"),
            mode="full",
            base="20261206-073155-student-pieces-e704",
            watch_stdin=True,
        ),
        TrainCommand(),
        TrainCommand(
            config="student-pieces",
            epochs=3,
            limit=4_000,
            test_limit=500,
            out=Path("/r e g"),
            seed=7,
            data="nsmc",
            distill="student+variants",
            teacher="current",
            anneal_from=Path("/r/versions/v1"),
            no_holdout=True,
            make_current="no",
            role="quick",
            replaces="q1",
            watch_stdin=True,
            events=True,
        ),
        DemoCommand("rnn", epochs=300),
        DemoCommand(
            "gru",
            epochs=3,
            seed=11,
            settings=DemoSettings(seq_len=20, n_train=256, n_val=64),
            events=True,
            watch_stdin=True,
        ),
    ],
    ids=["retrain", "retrain-every-field", "train", "train-every-field", "demo", "demo-worker"],
)
def test_the_command_line_the_parent_builds_is_what_the_child_reads(command) -> None:
    python, dash_m, module, *args = command.argv("/usr/bin/python3")
    assert (python, dash_m, module) == ("/usr/bin/python3", "-m", command.MODULE)
    assert type(command).parse(args) == command


@pytest.mark.parametrize(
    ("command_type", "args", "message"),
    [
        (
            RetrainCommand,
            ["--registry", "r", "--corrections", "c", "--mode", "partial"],
            "'partial'",
        ),
        (
            RetrainCommand,
            ["--registry", "r"],
            "the following arguments are required: --corrections",
        ),
        (TrainCommand, ["--epochs", "0"], "--epochs must be a positive number"),
        (TrainCommand, ["--config", "bert"], "invalid choice: 'bert'"),
        (TrainCommand, ["--make-current", "maybe"], "invalid choice: 'maybe'"),
        (DemoCommand, ["gru", "--epochs", "100000"], "epochs must be a whole number"),
        (DemoCommand, ["gru", "--settings", '{"seq_len": 20, "colour": "red"}'], "bad --settings"),
        (DemoCommand, ["gru", "--settings", "not json"], "bad --settings"),
        (DemoCommand, ["transformer"], "invalid choice: 'transformer'"),
    ],
)
def test_a_command_line_out_of_range_is_refused(command_type, args, message, capsys) -> None:
    """As argparse refuses anything: its usage, the reason, exit code 2."""
    with pytest.raises(SystemExit) as exit_:
        command_type.parse(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_demo_command_line_fills_in_the_demo_s_own_epochs() -> None:
    assert DemoCommand.parse(["lstm"]).epochs == DEFAULT_EPOCHS["lstm"]


# --- the supervisor -----------------------------------------------------------------------


@pytest.mark.slow
async def test_events_are_relayed_in_order_and_garbage_is_skipped(caplog) -> None:
    child = Child(
        ChildCommand(
            _script(
                """
                emit(ProgressEvent(EventKind.STAGE, Stage.TRAINING))
                stream.write("garbage\\n")
                emit(ProgressEvent(EventKind.EPOCH, member_name="kiwi", epoch=1, epochs=2))
                print("stray output goes to stderr")
                emit(ProgressEvent(EventKind.DONE, status="published", candidate_version="v2"))
                """
            )
        )
    )
    events: list[ProgressEvent] = []
    end = await _run(child, events)

    assert [e.kind for e in events] == [EventKind.STAGE, EventKind.EPOCH, EventKind.DONE]
    assert events[1].member_name == "kiwi" and events[1].epoch == 1
    assert end.returncode == 0 and end.ending is Ending.EXITED
    assert end.done is not None and end.done.candidate_version == "v2"
    assert end.skipped_lines == 1 and "skipped a line that is not an event" in caplog.text
    assert "stray output goes to stderr" in end.stderr_tail
    assert child.pid is None


@pytest.mark.slow
async def test_a_failing_child_gives_its_code_its_reason_and_its_stderr(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "child.log"
    script = _script(
        """
        import sys
        for step in range(3):
            sys.stderr.write(f"\\rtraining {step}/3")
        sys.stderr.write("\\nTraceback: the disk is on fire\\n")
        emit(ProgressEvent(EventKind.ERROR, error="the disk is on fire"))
        sys.exit(3)
        """
    )
    end = await _run(Child(ChildCommand(script, stderr_log=log_path)))

    assert end.returncode == 3 and end.ending is Ending.EXITED and end.done is None
    assert end.error == "the disk is on fire"
    assert end.last_stderr_line() == "Traceback: the disk is on fire"
    assert "training 2/3" in end.stderr_tail  # a progress bar's redraws are lines too
    assert "the disk is on fire" in log_path.read_text(encoding="utf-8")


@pytest.mark.slow
async def test_a_child_that_exits_zero_without_a_result_is_no_success() -> None:
    end = await _run(Child(ChildCommand((sys.executable, "-c", "pass"))))
    assert end.returncode == 0 and end.final is None and end.done is None


@pytest.mark.slow
async def test_a_hung_child_is_stopped_at_its_timeout() -> None:
    started = time.monotonic()
    command = ChildCommand((sys.executable, "-c", "import time; time.sleep(60)"), timeout=0.5)
    end = await _run(Child(command))

    assert end.ending is Ending.TIMED_OUT and end.timed_out
    assert end.returncode == -signal.SIGTERM and end.signal_name == "SIGTERM"
    assert time.monotonic() - started < 30  # not the child's 60 s


@pytest.mark.slow
async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    script = _script(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        emit(ProgressEvent(EventKind.STAGE, Stage.READING))
        time.sleep(60)
        """
    )
    child = Child(ChildCommand(script, grace=0.5, niceness=7))
    seen_nice: list[int] = []

    async def on_event(event: ProgressEvent) -> None:
        assert child.pid is not None
        seen_nice.append(psutil.Process(child.pid).nice())
        child.stop()

    started = time.monotonic()
    end = await asyncio.wait_for(child.run(on_event), timeout=30)

    assert seen_nice == [7]  # the lower priority the first model's training runs at
    assert end.ending is Ending.STOPPED and end.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 20


@pytest.mark.slow
async def test_a_stop_before_the_start_is_honoured() -> None:
    child = Child(ChildCommand((sys.executable, "-c", "import time; time.sleep(60)")))
    child.stop()
    end = await _run(child)
    assert end.ending is Ending.STOPPED and end.returncode == -signal.SIGTERM


@pytest.mark.slow
async def test_cancelling_the_task_stops_the_child() -> None:
    child = Child(ChildCommand((sys.executable, "-c", "import time; time.sleep(60)")))
    task = asyncio.create_task(child.run())
    await _until(lambda: child.pid is not None, 30, "the child runs")
    pid = child.pid
    assert pid is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=30)
    assert _gone(pid)


@pytest.mark.slow
async def test_a_failing_callback_stops_the_child_and_is_raised() -> None:
    script = _script(
        """
        import time
        emit(ProgressEvent(EventKind.STAGE, Stage.READING))
        time.sleep(60)
        """
    )
    child = Child(ChildCommand(script))
    pids: list[int] = []

    async def on_event(event: ProgressEvent) -> None:
        assert child.pid is not None
        pids.append(child.pid)
        raise RuntimeError("Telegram is down")

    with pytest.raises(RuntimeError, match="Telegram is down"):
        await asyncio.wait_for(child.run(on_event), timeout=30)
    assert len(pids) == 1 and _gone(pids[0])


PARENT = """\
import asyncio, sys
from bot.child_process import Child, ChildCommand

GRANDCHILD = '''
from training.protocol import *
exit_when_parent_dies()
emit = event_writer(protocol_stream())
emit(ProgressEvent(EventKind.STAGE, Stage.READING))
import time; time.sleep(60)
'''

async def main():
    child = Child(ChildCommand((sys.executable, "-c", GRANDCHILD)))

    async def on_event(event):
        print(child.pid, flush=True)

    await child.run(on_event)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_the_child_exits_when_its_parent_dies() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), timeout=60)
        grandchild = int(line)
        assert not _gone(grandchild)
        parent.kill()  # no clean-up at all: only the kernel closes its pipes
        await _until(lambda: _gone(grandchild), 20, "the orphan exits")
    finally:
        parent.kill()
        parent.wait()
