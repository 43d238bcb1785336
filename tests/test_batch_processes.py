"""An import traced in processes of its own (nlp.batch_processes): the same traces as the
bot's threads, and a process that dies or cannot load the model costs no message."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import psutil
import pytest

from benchmarks.import_bench import export_bytes, generated_export
from bot.history_import import BATCH, HistoryImporter, ImportProgress
from bot.serving import ModelService
from bot.storage import Storage
from nlp.batch_processes import NICENESS, OOM_SCORE_ADJ, BatchProcesses
from training.data import load_split

GROUP = -1001234567890
MESSAGES = 3_000  # six batches: the first stored while later ones are still to trace
NOW = 1_780_000_000.0


@pytest.fixture(scope="module")
def texts(trained_registry) -> list[str]:
    return [text for text in load_split("test").head(600).texts if text.strip()]


def _workers(parent: int | None = None) -> list[psutil.Process]:
    """A process's live tracing workers (not multiprocessing's resource tracker)."""
    return [child for child in psutil.Process(parent).children() if _is_worker(child)]


def _is_worker(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(
            process.cmdline()
        )
    except psutil.Error:  # ended meanwhile
        return False


def test_a_process_traces_exactly_what_the_threads_trace(trained_registry, texts):
    model = trained_registry.load_current()
    processes = BatchProcesses(trained_registry.current_dir(), model.version, 1)
    try:
        from_process = processes.submit(texts).result(timeout=120)
        (worker,) = _workers()
        assert worker.nice() == min(psutil.Process().nice() + NICENESS, 19)  # live traces first
        oom_score_adj = Path(f"/proc/{worker.pid}/oom_score_adj").read_text().strip()
        assert oom_score_adj == str(OOM_SCORE_ADJ)  # killed before the bot out of memory
    finally:
        processes.close()
    here = model.trace_batch(texts)
    assert [t.words for t in from_process] == [t.words for t in here]
    assert [t.model_version for t in from_process] == [model.version] * len(texts)
    for ours, theirs in zip(from_process, here, strict=True):
        assert ours.probabilities == pytest.approx(theirs.probabilities, abs=1e-6)
    assert _workers() == []  # closed means ended


def test_a_killed_process_fails_its_batches_instead_of_hanging(trained_registry, texts):
    model = trained_registry.load_current()
    processes = BatchProcesses(trained_registry.current_dir(), model.version, 1)
    try:
        processes.submit(texts[:2]).result(timeout=120)  # started and loaded
        (worker,) = _workers()
        worker.send_signal(signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            processes.submit(texts[:2]).result(timeout=120)
    finally:
        processes.close()


async def _import(
    registry,
    texts: list[str],
    database: Path,
    processes: int,
    version_dir,
    kill_after_first: bool = False,
) -> list[float]:
    """A `MESSAGES`-message export imported through the registry's model; the stored scores."""
    models = ModelService(registry.load_current())
    data = export_bytes(generated_export(GROUP, texts, MESSAGES, end=NOW, days=2, members=5))
    killed: list[int] = []

    async def on_progress(state: ImportProgress) -> None:
        if kill_after_first and state.done >= BATCH and not killed:
            for worker in _workers():
                worker.send_signal(signal.SIGKILL)
                killed.append(worker.pid)

    try:
        async with await Storage.open(database) as storage:
            importer = HistoryImporter(
                storage, models, 90, lambda: NOW, processes=processes, version_dir=version_dir
            )
            state = await importer.run(data, GROUP, ImportProgress(), on_progress)
            stored = await storage.mood.scores(GROUP, 0)
    finally:
        await models.stop()
    assert state.done == state.total and state.added == len(stored) > 2 * BATCH
    assert not kill_after_first or killed
    return sorted(row.score for row in stored)


async def test_an_import_in_processes_stores_what_threads_store(trained_registry, texts, tmp_path):
    def version_dir(version: str) -> Path:
        return trained_registry.path_of(version)

    on_threads = await _import(trained_registry, texts, tmp_path / "threads.sqlite3", 0, None)
    in_processes = await _import(
        trained_registry, texts, tmp_path / "procs.sqlite3", 2, version_dir
    )
    assert in_processes == pytest.approx(on_threads, abs=1e-6)
    assert _workers() == []


async def test_a_process_killed_mid_import_loses_no_message(
    trained_registry, texts, tmp_path, caplog
):
    def version_dir(version: str) -> Path:
        return trained_registry.path_of(version)

    on_threads = await _import(trained_registry, texts, tmp_path / "threads.sqlite3", 0, None)
    after_kill = await _import(
        trained_registry, texts, tmp_path / "killed.sqlite3", 1, version_dir, kill_after_first=True
    )
    assert after_kill == pytest.approx(on_threads, abs=1e-6)
    assert "an import process stopped" in caplog.text  # the rest went to the threads


async def test_a_model_the_processes_cannot_load_is_traced_on_threads(
    trained_registry, texts, tmp_path
):
    """The served model is fine in memory, but its files were damaged since it loaded:
    the processes fail to start, and the import goes on in the bot's threads."""
    damaged = tmp_path / "damaged"
    shutil.copytree(trained_registry.current_dir(), damaged)
    (damaged / "weights.npz").write_bytes(b"not a model")

    on_threads = await _import(trained_registry, texts, tmp_path / "threads.sqlite3", 0, None)
    fallen_back = await _import(
        trained_registry, texts, tmp_path / "damaged.sqlite3", 2, lambda version: damaged
    )
    assert fallen_back == on_threads


def test_a_bot_killed_outright_leaves_no_process_behind(trained_registry):
    """kill -9 of the bot mid-import: its workers, blocked on handing back traces that
    nobody reads, notice the parent is gone and end."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from nlp.batch_processes import NICENESS, OOM_SCORE_ADJ, BatchProcesses\n"
        "processes = BatchProcesses(Path(sys.argv[1]), Path(sys.argv[1]).name, 2)\n"
        "batches = [processes.submit(['정말 재밌어요 최고'] * 512) for _ in range(40)]\n"
        "batches[0].result()\n"
        "print('tracing', flush=True)\n"
        "sys.stdin.read()\n"
    )
    bot = subprocess.Popen(
        [sys.executable, "-c", script, str(trained_registry.current_dir())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert bot.stdout is not None and bot.stdout.readline() == "tracing\n"
        workers = _workers(bot.pid)
        assert len(workers) == 2
        bot.kill()
        bot.wait()
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert alive == []
    finally:
        bot.kill()


async def test_two_groups_importing_at_once_share_one_set_of_processes(
    trained_registry, texts, tmp_path
):
    """IMPORT_PROCESSES bounds the model copies in memory: a second group's import
    while one runs is traced on the threads, and both store every score."""
    models = ModelService(trained_registry.load_current())
    most_workers = [0]

    async def on_progress(state: ImportProgress) -> None:
        most_workers[0] = max(most_workers[0], len(_workers()))

    async def one(storage: Storage, chat_id: int) -> ImportProgress:
        data = export_bytes(generated_export(chat_id, texts, MESSAGES, end=NOW, members=5))
        return await importer.run(data, chat_id, ImportProgress(), on_progress)

    try:
        async with await Storage.open(tmp_path / "bot.sqlite3") as storage:
            importer = HistoryImporter(
                storage, models, 90, lambda: NOW, 1, trained_registry.path_of
            )
            first, second = await asyncio.gather(one(storage, GROUP), one(storage, GROUP - 1))
            stored = [len(await storage.mood.scores(chat, 0)) for chat in (GROUP, GROUP - 1)]
    finally:
        await models.stop()
    assert most_workers[0] == 1
    assert stored == [first.added, second.added] and first.added == second.added > 0
    assert _workers() == []
