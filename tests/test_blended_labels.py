"""Labelled rows learned halfway to a teacher's view (training.distill.labelled_weight)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nlp.ensemble import load_model
from nlp.model_config import NGRAM
from training.corpora import EXTRA_REVIEWS_FILE, text_key
from training.data import load_split
from training.distill import (
    STUDENT_PLAN,
    STUDENT_STARS_PLAN,
    DistillPlan,
    SoftRows,
    star_labels,
    starred,
)
from training.registry import Registry
from training.train import TrainingRequest, distilled, run_training

pytestmark = pytest.mark.slow

EXTRA_TEXTS = ["오늘 하루 진짜 행복했어", "아 짜증나 죽겠다"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    registry = Registry(tmp_path_factory.mktemp("teacher"))
    request = TrainingRequest(
        NGRAM, load_split("train").head(4_000), load_split("test").head(200), progress=False
    )
    return load_model(run_training(request, registry).path)


def _request() -> TrainingRequest:
    return TrainingRequest(
        NGRAM,
        load_split("train").head(1_000),
        load_split("test").head(200),
        extra_texts=EXTRA_TEXTS,
        extra_labels=[1.0, 0.0],
        progress=False,
    )


def _teacher_view(teacher, texts: list[str]) -> np.ndarray:
    return np.array([trace.positive for trace in teacher.trace_batch(texts)])


def test_training_rows_move_halfway_to_the_teacher_and_validation_keeps_its_labels(teacher):
    request = _request()
    blended = distilled(request, STUDENT_PLAN, teacher, [])
    train_rows, val_rows = request.rows()
    targets = blended.targets()
    labels = np.asarray(request.train.labels, dtype=np.float32)

    assert np.array_equal(targets[val_rows], labels[val_rows])
    texts = [request.train.texts[i] for i in train_rows]
    expected = 0.5 * labels[train_rows] + 0.5 * _teacher_view(teacher, texts)
    assert np.allclose(targets[train_rows], expected, atol=1e-3)
    assert not np.array_equal(targets[train_rows], labels[train_rows])
    extra = 0.5 * np.array([1.0, 0.0]) + 0.5 * _teacher_view(teacher, EXTRA_TEXTS)
    assert np.allclose(blended.extra_labels, extra, atol=1e-3)
    assert blended.key(NGRAM) != request.key(NGRAM)  # a resumed run never mixes the two


def test_without_a_labelled_weight_the_labels_are_learned_as_they_are(teacher):
    request = _request()
    plain = distilled(request, replace(STUDENT_PLAN, labelled_weight=0.0), teacher, [])
    assert plain.train_targets is None
    assert np.array_equal(plain.targets(), np.asarray(request.train.labels, dtype=np.float32))
    assert list(plain.extra_labels) == [1.0, 0.0]


def test_a_model_trains_on_blended_targets(teacher, tmp_path):
    plan = DistillPlan("tiny+soft", labelled_weight=0.5)
    request = distilled(_request(), plan, teacher, [])
    result = run_training(request, Registry(tmp_path))
    assert result.metrics["best_val_accuracy"] > 0.6
    assert result.metrics["data"]["distilled"]["labelled_weight"] == 0.5


def test_nsmc_rule_reads_the_extra_reviews_stars():
    path = Path(__file__).parent / "data" / "extra" / EXTRA_REVIEWS_FILE
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    stars = star_labels(path)
    for _, rating, text in rows:
        expected = 0 if int(rating) <= 4 else 1 if int(rating) >= 9 else None
        assert stars.get(text_key(text)) == expected
    assert set(stars.values()) == {0, 1}


def test_a_starred_text_moves_from_its_star_to_the_teacher_by_the_labelled_weight():
    soft = SoftRows(["별로였다", "최고 최고", "그냥 그랬다"], [0.8, 0.2, 0.6])
    moved = starred(soft, {"별로였다": 0, "최고 최고": 1}, weight=0.5)
    assert moved.texts == soft.texts
    assert moved.probabilities == [0.4, 0.6, 0.6]  # unrated text: the teacher's alone


def test_the_stars_plan_labels_distilled_reviews_by_their_star(teacher, monkeypatch):
    nsmc = Path(__file__).parent / "data" / "extra"
    stars = star_labels(nsmc / EXTRA_REVIEWS_FILE)
    texts = [text for text in _review_texts(nsmc) if text_key(text) in stars][:20]
    base = _request()
    monkeypatch.setenv("NSMC_DIR", str(nsmc))  # where distillation finds the stars
    request = distilled(base, STUDENT_STARS_PLAN, teacher, texts)
    plain = distilled(base, STUDENT_PLAN, teacher, texts)
    teacher_view = plain.extra_labels[len(EXTRA_TEXTS) :]
    expected = [0.5 * stars[text_key(t)] + 0.5 * p for t, p in zip(texts, teacher_view)]
    assert np.allclose(request.extra_labels[len(EXTRA_TEXTS) :], expected, atol=1e-3)


def _review_texts(folder: Path) -> list[str]:
    lines = (folder / EXTRA_REVIEWS_FILE).read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[2] for line in lines]
