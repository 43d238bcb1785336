"""A served student learns corrections through the teacher it was distilled from
(training.follow): the teacher is fine-tuned, the student follows the teacher's change, and
only the student is published; without its teacher it learns alone."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nlp.ensemble import Ensemble, members_of_model
from nlp.inference import Encoded, SentimentModel
from nlp.model_config import STUDENT_PIECES, EnsembleConfig
from tests.gates import open_gate
from tests.slang import SLANG_TEXTS
from training import focus, retrain
from training.data import load_split
from training.distill import DistillPlan
from training.focus import Focuser, Labelled, NetworkTrainer
from training.follow import Follower, teacher_of, teacher_to_follow
from training.paths import TrainingPaths
from training.protocol import EventKind, ProgressEvent, RetrainStatus
from training.read_cache import ReadCache
from training.recipe import FocusRules, RetrainRecipe
from training.registry import Registry
from training.train import TrainingRequest, distilled, run_training
from training.trust import CorrectionRow

pytestmark = pytest.mark.slow

OPEN_GATE = open_gate(nsmc_rows=500)
QUICK = FocusRules(steps=40, student_steps=40, replay_rows=500, transfer_chat_rows=200)
ROWS = [CorrectionRow(i + 1, text, 1, 100 + i, float(i)) for i, text in enumerate(SLANG_TEXTS)]


@pytest.fixture(scope="module")
def student_and_teacher(trained_registry, tmp_path_factory) -> tuple[Registry, str, str]:
    """The session's registry plus a small piece student distilled from its model (the
    teacher), made current: (registry, teacher, student)."""
    root = tmp_path_factory.mktemp("follow") / "models"
    registry = Registry(Path(shutil.copytree(trained_registry.root, root)))
    teacher_name = registry.current_name()
    assert teacher_name is not None
    teacher = registry.load(teacher_name)
    request = TrainingRequest(
        STUDENT_PIECES.with_overrides(units=32, embedding_dim=32),
        load_split("train").head(3_000),
        load_split("test").head(500),
        epochs=1,
        progress=False,
    )
    unlabelled = load_split("train").texts[3_000:5_000]
    request = distilled(request, DistillPlan("test", labelled_weight=0.5), teacher, unlabelled)
    student = run_training(request, registry).name
    registry.use(student)
    return registry, teacher_name, student


def _copy(registry: Registry, tmp_path: Path) -> Registry:
    return Registry(Path(shutil.copytree(registry.root, tmp_path / "models")))


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_student_learns_corrections_through_its_teacher(student_and_teacher, tmp_path) -> None:
    registry = _copy(student_and_teacher[0], tmp_path)
    _, teacher, student = student_and_teacher
    teacher_files = _digest(registry.path_of(teacher))
    versions = {info.name for info in registry.versions()}
    served = registry.load(student)
    events: list[ProgressEvent] = []
    recipe = RetrainRecipe(focus=QUICK, gate=OPEN_GATE)

    result = retrain.retrain(recipe, registry, ROWS, events.append)

    assert result.status is RetrainStatus.ACCEPTED, result
    assert result.teacher_version == teacher and result.base_version == student
    assert result.candidate_version is not None
    # only the student is published; the teacher is fine-tuned in memory and left as it was
    assert {info.name for info in registry.versions()} == versions | {result.candidate_version}
    assert _digest(registry.path_of(teacher)) == teacher_files
    candidate = registry.load(result.candidate_version)
    assert isinstance(candidate, SentimentModel)
    assert candidate.config.name == served.config.name
    # the fine-tuned student still names its teacher, so its next retrain learns through it
    assert candidate.metrics["teacher"] == teacher == teacher_to_follow(candidate)
    moved = [candidate.trace(text).positive - served.trace(text).positive for text in SLANG_TEXTS]
    assert np.mean(moved) > 0  # towards the corrected label
    # each training job reports the teacher's member, then the student's, as one run
    members = [
        (e.job, e.member, e.members, e.member_name) for e in events if e.kind is EventKind.MEMBER
    ]
    teacher_name = registry.load(teacher).config.name
    assert members[-2:] == [
        ("final", 1, 2, teacher_name),
        ("final", 2, 2, served.config.name),
    ]
    assert len(members) == 2 * (recipe.gate.folds + 1)
    # the published version reads as the student did: its next retrain finds the readings
    # this one kept of the transfer set and of the gate's NSMC reviews
    kept = ReadCache(TrainingPaths.from_env().cache_dir / "retrain")
    nsmc = load_split("test").head(recipe.gate.nsmc_rows).texts

    def unread(texts: Sequence[str]) -> Encoded:
        raise AssertionError(f"read {len(texts)} texts again")

    candidate.encode_many = unread  # type: ignore[method-assign]
    readings = kept.readings(candidate, nsmc)
    assert isinstance(readings, Encoded) and len(readings.messages) == len(nsmc)


def test_a_full_retrain_of_a_student_learns_through_its_teacher(
    student_and_teacher, tmp_path
) -> None:
    """From scratch a student's configuration would learn from labels alone, for hours;
    asked for a full retrain, the student is fine-tuned through its teacher instead, on
    the new corrections (those it learned before are already in its weights), and the
    result says so."""
    registry = _copy(student_and_teacher[0], tmp_path)
    _, teacher, student = student_and_teacher
    learned = [replace(row, id=row.id + 100, text=f"{row.text} 진짜", learned=True) for row in ROWS]
    recipe = RetrainRecipe(mode="full", focus=QUICK, gate=OPEN_GATE)

    result = retrain.retrain(recipe, registry, ROWS + learned, print)

    assert result.status is RetrainStatus.ACCEPTED, result
    assert result.mode == "finetune" and result.full_declined
    assert result.teacher_version == teacher and result.base_version == student
    assert result.corrections.carried == 0
    assert set(result.corrections.used_ids) <= {row.id for row in ROWS}
    assert result.candidate_version is not None
    assert registry.load(result.candidate_version).metrics["fine_tuned_from"] == student


@pytest.mark.parametrize("teacher_is", ["deleted", "damaged", "switched off"])
def test_a_student_without_its_teacher_learns_alone(
    student_and_teacher, tmp_path, capsys, teacher_is
) -> None:
    registry = _copy(student_and_teacher[0], tmp_path)
    _, teacher, student = student_and_teacher
    focus = QUICK
    if teacher_is == "deleted":
        shutil.rmtree(registry.path_of(teacher))
    elif teacher_is == "damaged":
        weights = next(registry.path_of(teacher).rglob("weights.npz"))
        weights.write_bytes(weights.read_bytes()[:-64] + b"\0" * 64)
    else:
        focus = FocusRules(steps=40, replay_rows=500, follow_teacher=False)

    result = retrain.retrain(RetrainRecipe(focus=focus, gate=OPEN_GATE), registry, ROWS, print)

    assert result.status is RetrainStatus.ACCEPTED, result
    assert result.base_version == student and result.teacher_version is None
    warning = f"warning: teacher {teacher} cannot be loaded"
    assert (warning in capsys.readouterr().err) == (teacher_is != "switched off")
    assert result.candidate_version is not None
    candidate = registry.load(result.candidate_version)
    assert candidate.metrics["teacher"] == teacher  # it may learn through it again later


def test_the_student_learns_only_from_its_teacher(student_and_teacher, monkeypatch) -> None:
    """The student's targets are its own probabilities plus the teacher's change: with a
    teacher that learned nothing, exactly its own (learning without forgetting). Beside
    them it draws the corrections with the teacher's verdicts as targets, not their
    labels (which pulled held-out corrections back to chance), at least half the rows."""
    registry, teacher_name, student_name = student_and_teacher
    teacher, student = registry.load(teacher_name), registry.load(student_name)

    class Unmoved(Focuser):
        def train(self, corrections, on_member=None, share=1.0):
            return [(member, {"loss": [0.0]}) for member in members_of_model(self.base)]

    replay = Labelled(load_split("train").texts[:300], load_split("train").labels[:300])
    rules = replace(QUICK, transfer_focus_rows=50)
    follower = Follower(student, Unmoved(teacher, replay, rules, 1e-3, 42), [], rules, 1e-3, 42)
    seen: list[tuple[np.ndarray, np.ndarray, Labelled]] = []
    original = NetworkTrainer.train

    def spy(self, corrections, share=1.0, replay_targets=None):
        seen.append((self.replay_targets.copy(), replay_targets, corrections))
        return original(self, corrections, share, replay_targets)

    monkeypatch.setattr(NetworkTrainer, "train", spy)
    texts = list(SLANG_TEXTS)
    follower.train(Labelled(texts, [1] * len(texts)))
    ((own, targets, beside),) = seen
    np.testing.assert_allclose(targets, own, atol=1e-6)
    corrections = [i for i, text in enumerate(beside.texts) if text in texts]
    assert len(corrections) >= len(beside) / 2 and len(beside) - len(corrections) == 50
    teacher_says = {trace.text: trace.positive for trace in teacher.trace_batch(texts)}
    for i in corrections:
        assert beside.labels[i] == pytest.approx(teacher_says[beside.texts[i]], abs=1e-6)
    assert any(abs(beside.labels[i] - 1) > 0.01 for i in corrections)  # not the labels


def test_each_teacher_member_reads_the_transfer_texts_once(student_and_teacher, monkeypatch):
    """The teacher's replay is half the transfer set: its trainers and the follower's
    probes of every fine-tuned teacher share one reading (Kiwi's analyses cost more than
    the networks), whatever the number of jobs."""
    registry, teacher_name, student_name = student_and_teacher
    teacher, student = registry.load(teacher_name), registry.load(student_name)
    reads: dict[int, list[int]] = {}
    for index, member in enumerate(members_of_model(teacher)):
        reads[index] = []

        def counted(texts, original=member.encode_many, seen=reads[index]):
            seen.append(len(texts))
            return original(texts)

        monkeypatch.setattr(member, "encode_many", counted)
    train = load_split("train")
    replay = Labelled(train.texts[:300], train.labels[:300])
    chat = train.texts[300:420]
    follower = Follower(student, Focuser(teacher, replay, QUICK, 1e-3, 42), chat, QUICK, 1e-3, 42)
    corrections = Labelled(list(SLANG_TEXTS), [1] * len(SLANG_TEXTS))
    for share in (0.5, 1.0):  # a cross-validation probe, then the final candidate
        follower.train(corrections, share=share)
    assert len(follower.student.replay) == 420
    for seen in reads.values():
        assert seen.count(300) == 1 and seen.count(120) == 1
        assert all(size <= len(SLANG_TEXTS) for size in seen if size not in (300, 120))


def test_the_student_takes_its_own_steps_at_a_rate_that_keeps_their_product(
    student_and_teacher, monkeypatch
) -> None:
    """`student_steps` is the student's; `steps` stay the teacher's networks' (its n-gram
    member is refitted, not stepped). Fewer steps go at a higher rate, steps x rate as at
    `steps`: the student follows the teacher's soft change in fewer of them."""
    registry, teacher_name, student_name = student_and_teacher
    teacher, student = registry.load(teacher_name), registry.load(student_name)
    train = load_split("train")
    replay = Labelled(train.texts[:300], train.labels[:300])
    rules = replace(QUICK, steps=30, student_steps=12)
    focuser = Focuser(teacher, replay, rules, 1e-3, 42)
    follower = Follower(student, focuser, train.texts[300:400], rules, 2e-3, 42)
    steps: dict[str, int] = {}
    original = focus._fitted

    def counted(model, step, batches):
        steps[model.name] = len(batches)
        return original(model, step, batches)

    monkeypatch.setattr(focus, "_fitted", counted)
    follower.train(Labelled(list(SLANG_TEXTS), [1] * len(SLANG_TEXTS)))
    networks = [m for m in members_of_model(teacher) if isinstance(m, SentimentModel)]
    assert steps == {
        f"sentiment_{student.config.name}": 12,
        **{f"sentiment_{network.config.name}": 30 for network in networks},
    }
    assert follower.student.learning_rate == pytest.approx(2e-3 * 30 / 12)
    assert focuser.learning_rate == 1e-3


def test_the_next_retrain_reads_nothing_the_last_one_read(
    student_and_teacher, monkeypatch, tmp_path
) -> None:
    """The base teacher and student are the same in every retrain of a student: their
    readings of the transfer texts and their verdicts of them are kept on disk
    (training.read_cache), so the next retrain neither reads nor traces them again."""
    registry, teacher_name, student_name = student_and_teacher
    teacher, student = registry.load(teacher_name), registry.load(student_name)
    train = load_split("train")
    replay = Labelled(train.texts[:300], train.labels[:300])
    chat, cache = train.texts[300:420], ReadCache(tmp_path)

    def follower() -> Follower:
        focuser = Focuser(teacher, replay, QUICK, 1e-3, 42, cache)
        return Follower(student, focuser, chat, QUICK, 1e-3, 42)

    first = follower()
    reads: list[int] = []
    traces: list[int] = []
    for member in [*members_of_model(teacher), student]:

        def counted(texts, original=member.encode_many):
            reads.append(len(texts))
            return original(texts)

        def traced(batch, original=member.trace_encoded):
            traces.append(len(batch.messages))
            return original(batch)

        monkeypatch.setattr(member, "encode_many", counted)
        monkeypatch.setattr(member, "trace_encoded", traced)
    again = follower()
    corrections = Labelled(list(SLANG_TEXTS), [1] * len(SLANG_TEXTS))
    np.testing.assert_array_equal(again.teacher_before, first.teacher_before)
    np.testing.assert_array_equal(again.student_before, first.student_before)
    assert reads == [] and traces == []
    trained = again.train(corrections, share=0.5)
    assert reads and not {len(replay), len(chat), len(replay) + len(chat)} & set(reads)
    assert len(trained) == 1 and trained[0][0] is not student


def test_the_teacher_is_read_from_the_distillation_or_a_fine_tune() -> None:
    distilled_metrics = {"data": {"distilled": {"plan": "student", "teacher": "v-teacher"}}}
    assert teacher_of(distilled_metrics) == "v-teacher"
    assert teacher_of({"teacher": "v-teacher", "data": {}}) == "v-teacher"
    assert teacher_of({"data": {"mix": "nsmc"}}) is None


def test_an_ensemble_does_not_learn_through_its_teacher(trained_registry) -> None:
    model = trained_registry.load_current()
    named = {"data": {"distilled": {"teacher": "v-teacher"}}}
    ensemble = Ensemble(EnsembleConfig("pair", members=(model.config,)), [model], "v", named)
    assert teacher_to_follow(ensemble) is None
