"""The student and the ensemble side by side (issue 22): every figure for each, in one run.

    python -m benchmarks.compare        (also part of `make bench`)

The student is the registry's newest servable version of config `student`, the ensemble
its newest of config `default`; keys are prefixed `student_` and `ensemble_`. A registry
that holds only one of them gets that one's figures and a line saying the other is
missing. Each bot figure runs `python -m bot` on a registry of its own that serves only
that version (the versions are linked, not copied).

Where the time goes, per model: the CPU per message (two bots, 2,100 messages each at
100/s, ~70 s), the 400 msg/s load (60 s, plus start-up and the drain), the twenty users'
focused retrain (`retrain20_*`, 45-80 s, a student's through its teacher when the
registry holds it), the rest (trace, batches, a serving process's memory, chat dev) ~20 s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

from benchmarks import bot_bench, cpu_bench, trace_bench
from benchmarks.common import MESSAGE_25_WORDS, percentiles_ms, rounded, time_calls
from benchmarks.cpu_bench import cpu_seconds
from benchmarks.loop_bench import Loop
from nlp.ensemble import load_model
from tests.fake_telegram import running_fake_telegram
from training.corpora import CHAT_SETS
from training.data import load_split, read_corpus
from training.evaluate import evaluate
from training.follow import teacher_of
from training.registry import CURRENT_FILE, Registry, RegistryError, VersionInfo

# prefix -> the model config whose newest version it names; a student's variants
# (`student-lstm`, ...) count as the student
MODELS = (("student", "student"), ("ensemble", "default"))
LOAD_RATE = 400  # messages per second offered, the target
LOAD_SECONDS = 60.0


def compared_versions(registry: Registry) -> Iterator[tuple[str, VersionInfo]]:
    """(prefix, version) for each of MODELS the registry holds; says which it lacks."""
    for prefix, config in MODELS:
        info = registry.newest(config)
        if info is None:
            print(f"{prefix}: the registry holds no version of config {config!r}; not compared")
            continue
        yield prefix, info


def serving_only(info: VersionInfo, folder: Path, beside: Sequence[VersionInfo] = ()) -> Path:
    """A registry in ``folder`` whose one version, current, is ``info``'s (with the
    versions ``beside`` it, not served)."""
    (folder / "versions").mkdir(parents=True)
    for version in (info, *beside):
        link = folder / "versions" / version.name
        link.symlink_to(version.path.resolve(), target_is_directory=True)
    (folder / CURRENT_FILE).write_text(info.name + "\n", encoding="utf-8")
    return folder


def teacher_beside(registry: Registry, info: VersionInfo) -> list[VersionInfo]:
    """The version a student learns its corrections through (training.follow), when the
    registry holds it: a student's retrain is timed as the bot would run it."""
    teacher = teacher_of(info.metrics)
    try:
        return [registry.info(teacher)] if teacher and registry.path_of(teacher).is_dir() else []
    except RegistryError:  # not a version name
        return []


def retrain_figures(registry: Registry, info: VersionInfo, folder: Path) -> dict[str, float]:
    """`make bench-loop`'s twenty users (benchmarks.loop_bench): a focused retrain of the
    corrections of twenty users, through the real command line, on a copy of a registry
    serving this version."""
    root = serving_only(info, folder / "registry", teacher_beside(registry, info))
    loop = Loop(root, folder)
    loop.baseline()
    loop.twenty_users()
    return {
        f"retrain20_{key.removeprefix('retrain_20_')}": float(loop.figures[key])
        for key in ("retrain_20_seconds", "retrain_20_accepted", "retrain_20_corrected_share")
    }


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def model_figures(info: VersionInfo) -> dict[str, float]:
    """Speed, memory, size and accuracy of one version, in this process (no TensorFlow)."""
    model = load_model(info.path, version=info.name)
    p50, _ = percentiles_ms(time_calls(lambda: model.trace(MESSAGE_25_WORDS), repeats=300))
    reviews = load_split("test").texts[:5000]
    chat_dev = read_corpus(CHAT_SETS / "chat_dev.txt")
    return {
        "trace_p50_ms": p50,  # tokenising included: `trace` starts from the text
        "batch_traces_per_s": trace_bench._batch_throughput(model, reviews),
        "serve_rss_mb": trace_bench._serving_rss_mb(info.path),
        "disk_mb": disk_mb(info.path),
        "test_accuracy": float(info.metrics.get("test_accuracy", float("nan"))),
        "test_n": int(info.metrics.get("test_n", 0)),
        "chat_dev_accuracy": evaluate(
            model, chat_dev.texts, chat_dev.labels, progress=False
        ).accuracy,
    }


async def _load(registry_root: Path) -> dict[str, float]:
    """LOAD_RATE private messages a second for LOAD_SECONDS to one bot process; with the
    CPU per message offered of the bot and of this process (the fake Bot API and the
    simulated users), which share the machine's 2 cores."""
    with tempfile.TemporaryDirectory() as scratch:
        async with running_fake_telegram() as tg:
            process = await bot_bench.start_bot(tg, registry_root, Path(scratch))
            bot, harness = psutil.Process(process.pid), psutil.Process()
            try:
                bot_cpu, harness_cpu = cpu_seconds(bot), cpu_seconds(harness)
                answered, errors, rate = await bot_bench.load(tg, LOAD_RATE, LOAD_SECONDS)
                bot_cpu, harness_cpu = (
                    cpu_seconds(bot) - bot_cpu,
                    cpu_seconds(harness) - harness_cpu,
                )
            finally:
                process.terminate()
                await asyncio.to_thread(process.wait, 60)
    offered = LOAD_RATE * LOAD_SECONDS / 1000  # thousands, so seconds / offered is ms
    return {
        "load400_answered": answered,
        "load400_errors": errors,
        "load400_msgs_per_s": rate,
        "load400_bot_cpu_ms_per_msg": bot_cpu / offered,
        "load400_harness_cpu_ms_per_msg": harness_cpu / offered,
    }


def figures_for(registry: Registry, info: VersionInfo) -> dict[str, float]:
    figures = model_figures(info)
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as folder:
        root = serving_only(info, Path(folder) / "serving")
        figures.update(cpu_bench.run(root))
        figures.update(asyncio.run(_load(root)))
        figures.update(retrain_figures(registry, info, Path(folder) / "retrain"))
    return figures


def run(registry: Registry) -> dict[str, float]:
    result: dict[str, float] = {}
    for prefix, info in compared_versions(registry):
        print(f"{prefix}: {info.name}")
        figures = figures_for(registry, info)
        print(f"{prefix}: " + ", ".join(f"{k} {v:.3f}" for k, v in rounded(figures).items()))
        result.update({f"{prefix}_{key}": value for key, value in figures.items()})
    return result


def main() -> int:
    print(json.dumps(rounded(run(Registry.from_env()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
