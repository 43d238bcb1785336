"""Labelled rows learned halfway to a teacher's view (training.distill.labelled_weight)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nlp.ensemble import load_model
from nlp.model_config import NGRAM
from training.data import load_split
from training.distill import STUDENT_PLAN, DistillPlan
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
