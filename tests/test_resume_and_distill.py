"""Training that survives an interruption, and distillation from a teacher it trains first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from training.data import load_split
from training.distill import STUDENT_VARIANTS_PLAN, TEACHER_CACHE

REPO = Path(__file__).resolve().parents[1]
EXTRA = REPO / "tests" / "data" / "extra"

pytestmark = pytest.mark.slow


def _environment(tmp_path: Path) -> dict[str, str]:
    nsmc = tmp_path / "nsmc"
    nsmc.mkdir()
    source = Path(load_split("train").source).parent
    for name in ("ratings_train.txt", "ratings_test.txt"):
        (nsmc / name).symlink_to(source / name)
    (nsmc / "reviews_extra.tsv").symlink_to(EXTRA / "reviews_extra.tsv")
    return {
        **os.environ,
        "NSMC_DIR": str(nsmc),
        "CHAT_DATA_DIR": str(EXTRA / "chat"),
        "SENTIMENT_CACHE_DIR": str(tmp_path / "cache"),
    }


def _train(env: dict[str, str], out: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "training.train", "--out", str(out), *args]
    return subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def _versions(out: Path) -> list[dict]:
    folder = out / "versions"
    paths = sorted(folder.iterdir()) if folder.is_dir() else []
    return [json.loads((path / "metrics.json").read_text()) for path in paths]


def _kill_when(process: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    """Kills `process` as `kill -9` would, once `ready()`: it must not end before (10 min)."""
    deadline = time.monotonic() + 600
    while not ready():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"not {what} in 10 minutes"
        time.sleep(0.05)
    process.kill()
    process.wait()


def test_an_interrupted_training_resumes_after_its_finished_members(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    out = tmp_path / "registry"
    args = (
        "--config",
        "default",
        "--limit",
        "1500",
        "--test-limit",
        "200",
        "--epochs",
        "1",
        "--data",
        "nsmc+reviews",
        "--distill",
        "none",
    )
    first = _train(env, out, *args)
    checkpoints = tmp_path / "cache" / "checkpoints"
    _kill_when(first, lambda: any(checkpoints.glob("*/0/done.json")), "a member was saved")
    assert _versions(out) == []  # nothing half-published

    second = _train(env, out, *args)
    output, _ = second.communicate(timeout=900)
    assert second.returncode == 0, output
    assert "member 1 (kiwi): resumed from an interrupted run" in output
    (version,) = _versions(out)
    assert len(version["history"]) == 4  # all four members, the first one resumed
    assert not any(checkpoints.iterdir())  # a published run leaves no checkpoint behind


def test_a_network_stopped_between_epochs_resumes_after_its_last_finished_epoch(
    tmp_path: Path,
) -> None:
    """The student's first stage is one network trained for hours: a kill costs the epoch
    under way, not the epochs before it (training.epoch_backup)."""
    env = _environment(tmp_path)
    out = tmp_path / "registry"
    args = (
        *("--config", "syllable", "--limit", "6000", "--test-limit", "200", "--epochs", "4"),
        *("--data", "nsmc", "--distill", "none", "--no-holdout"),  # no early stop: 4 epochs
    )
    first = _train(env, out, *args)
    checkpoints = tmp_path / "cache" / "checkpoints"
    backup = "*/0.epochs/state.json"
    _kill_when(first, lambda: any(checkpoints.glob(backup)), "an epoch was backed up")
    assert _versions(out) == []
    (state_file,) = checkpoints.glob(backup)
    backed_up = json.loads(state_file.read_text())
    done = backed_up["epochs"]
    assert 1 <= done < 4, "the kill came after the network was finished"

    second = _train(env, out, *args)
    output, _ = second.communicate(timeout=900)
    assert second.returncode == 0, output
    assert f"syllable: resumed after epoch {done} of 4" in output
    (version,) = _versions(out)
    history = version["history"]
    assert len(history["loss"]) == 4  # the killed run's epochs and the resumed run's
    assert history["loss"][:done] == backed_up["history"]["loss"]
    assert history["accuracy"][:done] == backed_up["history"]["accuracy"]
    assert not any(checkpoints.iterdir())  # published: the backup is gone


def test_distillation_trains_its_teacher_first_and_reuses_it(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    out = tmp_path / "registry"
    args = (
        "--config",
        "ngram",
        "--limit",
        "3000",
        "--test-limit",
        "300",
        "--no-holdout",
        "--data",
        "nsmc+reviews+kote+written",
        "--distill",
        "reviews+chat",
    )
    output, _ = _train(env, out, *args).communicate(timeout=600)
    teacher, student = _versions(out)
    assert teacher["role"] == "teacher" and "distilled" not in teacher["data"]
    distilled = student["data"]["distilled"]
    assert distilled["teacher"] == teacher["version"] and distilled["rows"] > 0
    assert 0 < distilled["mean_probability"] < 1
    labelled = sorted((tmp_path / "cache" / TEACHER_CACHE).iterdir())
    written = [path.stat().st_mtime_ns for path in labelled]

    output, _ = _train(env, out, *args).communicate(timeout=600)
    assert f"teacher {teacher['version']}: from an earlier run" in output
    versions = _versions(out)
    assert len(versions) == 3  # the teacher was not trained again
    assert versions[2]["data"]["distilled"] == distilled  # the same rows, the same labels
    assert [path.stat().st_mtime_ns for path in labelled] == written  # read, not labelled again


def test_chat_like_variants_are_labelled_by_the_teacher_and_counted(tmp_path: Path) -> None:
    """`--distill student+variants`: the run's share of the variants joins the distilled
    text, the version's note counts them, and the teacher (trained first) saw none."""
    env = _environment(tmp_path)
    out = tmp_path / "registry"
    args = ("--config", "ngram", "--limit", "800", "--test-limit", "300", "--no-holdout")
    child = _train(env, out, *args, "--distill", "student+variants")
    output, _ = child.communicate(timeout=600)
    assert child.returncode == 0, output
    teacher, student = _versions(out)
    assert "distilled" not in teacher["data"]
    distilled = student["data"]["distilled"]
    per_kind = round(STUDENT_VARIANTS_PLAN.variants * 800 / len(load_split("train")))
    assert per_kind < distilled["variants"] <= 3 * per_kind
    assert distilled["rows"] > distilled["variants"]


def test_without_unlabelled_text_no_teacher_is_trained(tmp_path: Path) -> None:
    """A machine with NSMC alone (no extra reviews, no chat data) trains the default
    recipe in one stage: a teacher with nothing to label would double the time for nothing."""
    env = _environment(tmp_path)
    (tmp_path / "nsmc" / "reviews_extra.tsv").unlink()
    del env["CHAT_DATA_DIR"]
    out = tmp_path / "registry"
    args = (
        "--config",
        "ngram",
        "--limit",
        "2000",
        "--test-limit",
        "200",
        "--distill",
        "reviews+chat",
    )
    child = _train(env, out, *args)
    output, _ = child.communicate(timeout=600)
    assert child.returncode == 0, output
    (version,) = _versions(out)
    assert "role" not in version and "distilled" not in version["data"]


@pytest.mark.parametrize(
    ("teacher", "says"),
    [("no-such-version", "error: model directory"), ("current", "error: no current model")],
)
def test_a_teacher_that_cannot_load_is_one_line_and_exit_1(
    tmp_path: Path, teacher: str, says: str
) -> None:
    env = _environment(tmp_path)
    args = (
        "--config",
        "ngram",
        "--limit",
        "500",
        "--test-limit",
        "50",
        "--distill",
        "reviews+chat",
        "--teacher",
        str(tmp_path / teacher) if teacher != "current" else teacher,
    )
    command = [sys.executable, "-m", "training.train", "--out", str(tmp_path / "r"), *args]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert says in done.stderr and "Traceback" not in done.stderr


def test_a_staged_student_stopped_by_a_kill_resumes_at_its_stage_and_leaves_one_average(
    tmp_path: Path, trained_registry
) -> None:
    """`make train-student`'s three stages: killed once the first is published, the run
    again reuses it rather than training it twice, and the registry ends with one
    version, the mean of the last two stages, whose metrics say what each stage was."""
    from training.registry import Registry
    from training.student_stages import AVERAGED, STAGES

    env = _environment(tmp_path)
    out = Registry(tmp_path / "registry")
    command = [
        sys.executable,
        "-m",
        "training.student_stages",
        *("--config", "student-pieces-deep", "--limit", "120", "--test-limit", "200"),
        *("--teacher", str(trained_registry.current_dir()), "--out", str(out.root)),
    ]
    first = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    _kill_when(first, lambda: any(not v.problem for v in out.versions()), "a stage was published")
    (stage_one,) = out.versions()

    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"model {stage_one.name}: from an earlier run" in done.stdout
    (version,) = out.versions()  # the stages deleted once their average is published
    metrics = version.metrics
    stages = metrics["stages"]
    assert [stage["plan"] for stage in stages] == [stage.plan for stage in STAGES]
    assert stages[0]["version"] == stage_one.name
    assert [stage["fine_tuned_from"] for stage in stages] == [
        None,
        *(stage["version"] for stage in stages[:-1]),
    ]
    assert metrics["averaged_from"] == [stage["version"] for stage in stages[-AVERAGED:]]
    assert metrics["seconds"] >= sum(stage["seconds"] for stage in stages)  # the killed run's too
    assert metrics["data"]["chat_copies"] == 4  # the last stage's text: every chat row x4
    assert out.current_name() == version.name  # the registry served nothing before
    assert trained_registry.current_dir().is_dir()  # the teacher is left as it was
    model = out.load(version.name)
    test = load_split("test").head(200)
    from training.evaluate import evaluate

    assert evaluate(model, test.texts, test.labels, progress=False).accuracy == pytest.approx(
        metrics["test_accuracy"]
    )
    from training.train import split_validation

    train = load_split("train").head(120)
    _, rows = split_validation(len(train), 42)  # the stages' validation rows: same seed
    validation = [train.texts[i] for i in rows], [train.labels[i] for i in rows]
    assert evaluate(model, *validation, progress=False).accuracy == pytest.approx(
        metrics["best_val_accuracy"]
    )  # the average's own score there, not a stage's (120 rows: near chance either way)
