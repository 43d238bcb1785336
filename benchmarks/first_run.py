"""`python -m benchmarks.first_run` (`make bench-first-run`): how soon a fresh install answers.

Starts `python -m bot` in console mode (no token), as `make run` does, against an empty
registry, database and tokeniser cache in a temporary folder, sends it a Korean sentence
and records:

* seconds from the start to the first verdict (the console's own example) and to the
  answer to the sentence sent;
* the bot process's peak resident memory until then (the kernel's high-water mark,
  VmHWM) and the peak of the whole process tree (sampled every 0.1 s), which includes the
  training children; the quick fit's own peak, as its metrics.json recorded it.

With `--follow` it keeps the bot running until the full model is hot-swapped in (12-14
minutes on two cores) and records that time too. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.common import rounded
from training.registry import Registry

SENTENCE = "배우들 연기는 좋았지만 스토리가 너무 지루했다"
VERDICT_MARKS = ("😊 긍정 (", "😞 부정 (")
SWAPPED_MARK = "now serving the full model"
FIRST_VERDICT_TIMEOUT_S = 15 * 60
FOLLOW_TIMEOUT_S = 60 * 60
PROBE_INTERVAL_S = 30.0


def _environment(folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "TELEGRAM_TOKEN"}
    env.update(
        MODEL_REGISTRY=str(folder / "models"),
        DATABASE_PATH=str(folder / "bot.sqlite3"),
        SENTIMENT_CACHE_DIR=str(folder / "cache"),  # cold: nothing tokenised yet
        DEMO_CACHE_DIR=str(folder / "demos"),
        RETRAIN_CRON="off",
        PYTHONUNBUFFERED="1",  # the console's lines must reach us as they are printed
    )
    return env


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put((time.monotonic(), line))
    into.put((time.monotonic(), None))


class TreeMemory:
    """Peak RSS of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(psutil.Error):
                processes = [self.root, *self.root.children(recursive=True)]
                total = 0
                for process in processes:
                    with contextlib.suppress(psutil.Error):
                        total += process.memory_info().rss
                self.peak_mb = max(self.peak_mb, total / 1e6)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def high_water_mb(pid: int) -> float:
    """The kernel's peak RSS of one process (Linux); 0 where /proc does not exist."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 * 1.048576  # kB -> MB
    except OSError:
        pass
    return 0.0


def _wait_for(lines: queue.Queue, marks: tuple[str, ...], deadline: float, log) -> float:
    """Seconds (monotonic) when a line with one of `marks` arrives."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no line with {marks} in time")
        at, line = lines.get(timeout=remaining)
        if line is None:
            raise RuntimeError("the bot stopped before answering; see its output above")
        log.write(line)
        if any(mark in line for mark in marks):
            return at


def _follow(process, lines: queue.Queue, deadline: float, log) -> tuple[float, list[float]]:
    """Until the swap, ask for a verdict every PROBE_INTERVAL_S: how long a user waits
    while the full model trains beside the bot. Returns (swap time, waits)."""
    latencies: list[float] = []
    asked: float | None = None
    next_probe = time.monotonic() + PROBE_INTERVAL_S
    while time.monotonic() < deadline:
        if asked is None and time.monotonic() >= next_probe:
            asked = time.monotonic()
            process.stdin.write(SENTENCE + "\n")
            process.stdin.flush()
        try:
            at, line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError("the bot stopped before the full model was served")
        log.write(line)
        if SWAPPED_MARK in line:
            return at, latencies
        if asked is not None and any(mark in line for mark in VERDICT_MARKS):
            latencies.append(at - asked)
            asked, next_probe = None, at + PROBE_INTERVAL_S
    raise TimeoutError("the full model was not served in time")


def measure(folder: Path, follow: bool) -> dict[str, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        env=_environment(folder),
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    memory = TreeMemory(process.pid)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    assert process.stdin is not None
    process.stdin.write(SENTENCE + "\n")  # read once the example is answered
    process.stdin.flush()
    figures: dict[str, float] = {}
    with (folder / "bot-output.log").open("w", encoding="utf-8") as log:
        try:
            deadline = started + FIRST_VERDICT_TIMEOUT_S
            figures["first_verdict_s"] = _wait_for(lines, VERDICT_MARKS, deadline, log) - started
            figures["sentence_verdict_s"] = _wait_for(lines, VERDICT_MARKS, deadline, log) - started
            figures["bot_peak_rss_mb"] = high_water_mb(process.pid)
            figures["tree_peak_rss_mb_to_verdict"] = memory.peak_mb
            if follow:
                swapped, latencies = _follow(process, lines, started + FOLLOW_TIMEOUT_S, log)
                figures["full_model_s"] = swapped - started
                figures["verdict_while_training_max_s"] = max(latencies, default=0.0)
                figures["verdicts_while_training"] = len(latencies)
                figures["bot_peak_rss_mb_to_full"] = high_water_mb(process.pid)
        finally:
            process.stdin.close()  # the console ends; the runtime stops its training child
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            figures["tree_peak_rss_mb"] = memory.stop()
    figures.update(_quick_figures(Registry(folder / "models")))
    return figures


def _quick_figures(registry: Registry) -> dict[str, float]:
    quick = [info for info in registry.versions() if info.is_quick]
    if not quick:
        return {}
    metrics = quick[0].metrics
    return {
        "quick_fit_s": float(metrics["seconds"]),
        "quick_fit_peak_rss_mb": float(metrics["peak_rss_mb"]),
        "quick_test_accuracy": float(metrics["test_accuracy"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_run", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--follow", action="store_true", help="also wait for the full model")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder, kept")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="first-run-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        figures = measure(folder, args.follow)
    print(
        f"first run: first verdict after {figures['first_verdict_s']:.0f} s, the sentence's "
        f"after {figures['sentence_verdict_s']:.0f} s; bot process peak "
        f"{figures['bot_peak_rss_mb']:.0f} MB, whole tree "
        f"{figures['tree_peak_rss_mb_to_verdict']:.0f} MB until then (quick fit "
        f"{figures.get('quick_fit_s', 0):.0f} s, peak {figures.get('quick_fit_peak_rss_mb', 0):.0f}"
        f" MB, test accuracy {figures.get('quick_test_accuracy', 0):.4f})"
    )
    if "full_model_s" in figures:
        print(
            f"full model served after {figures['full_model_s'] / 60:.1f} min; "
            f"{figures['verdicts_while_training']} verdicts asked for meanwhile, the slowest "
            f"in {figures['verdict_while_training_max_s']:.2f} s"
        )
    print(json.dumps(rounded(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
