"""The teacher's probabilities are kept per teacher version and list of texts, so a
resumed or repeated distillation does not label 640,000 texts again."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.distill import TEACHER_CACHE, blended_labels, teacher_labels

pytestmark = pytest.mark.slow

TEXTS = ["정말 재밌어요 강추", "시간 아까운 영화", "ㅋㅋ", "", "배우 연기가 별로였다"]


def _refuse(*_: object) -> None:
    raise AssertionError("the teacher was asked again")


def test_a_second_labelling_reads_the_first(trained_model, tmp_path: Path, monkeypatch) -> None:
    first = teacher_labels(trained_model, TEXTS, progress=False, cache_dir=tmp_path)
    assert "" not in first.texts and len(first.texts) == 4  # nothing to read: dropped
    (cached,) = (tmp_path / TEACHER_CACHE).iterdir()
    monkeypatch.setattr(trained_model, "trace_batch", _refuse)
    again = teacher_labels(trained_model, TEXTS, progress=False, cache_dir=tmp_path)
    assert again == first
    blended = blended_labels(trained_model, TEXTS, [1.0] * 5, 0.5, False, tmp_path)
    assert blended[3] == 1.0  # unreadable: keeps its label
    assert blended[0] == round(0.5 + 0.5 * first.probabilities[0], 4)
    assert list((tmp_path / TEACHER_CACHE).iterdir()) == [cached]


def test_other_texts_or_a_damaged_file_are_labelled_afresh(trained_model, tmp_path: Path) -> None:
    first = teacher_labels(trained_model, TEXTS, progress=False, cache_dir=tmp_path)
    (cached,) = (tmp_path / TEACHER_CACHE).iterdir()
    cached.write_bytes(cached.read_bytes()[:20])  # cut short, as by a full disk
    assert teacher_labels(trained_model, TEXTS, progress=False, cache_dir=tmp_path) == first
    fewer = teacher_labels(trained_model, TEXTS[:2], progress=False, cache_dir=tmp_path)
    assert fewer.probabilities == first.probabilities[:2]
    assert len(list((tmp_path / TEACHER_CACHE).iterdir())) == 2
