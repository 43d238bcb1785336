"""`make bench`'s side-by-side comparison (benchmarks/compare.py): a student's retrain is
timed as the bot runs it, beside the teacher it learns through."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks.compare import serving_only, teacher_beside
from training.registry import Registry, VersionInfo


def test_a_student_is_timed_beside_the_teacher_it_learns_through(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for name in ("v-teacher", "v-student", "v-other"):
        registry.path_of(name).mkdir(parents=True)
    distilled = {"data": {"distilled": {"teacher": "v-teacher"}}}
    student = VersionInfo("v-student", registry.path_of("v-student"), distilled, None)

    beside = teacher_beside(registry, student)
    root = serving_only(student, tmp_path / "bench", beside)

    assert [version.name for version in beside] == ["v-teacher"]
    assert Registry(root).current_name() == "v-student"
    assert sorted(path.name for path in (root / "versions").iterdir()) == ["v-student", "v-teacher"]
    assert (root / "versions" / "v-teacher").resolve() == registry.path_of("v-teacher").resolve()
    # a teacher the registry lacks, a name that is no version, or no teacher: timed alone
    for metrics in ({"teacher": "v-gone"}, {"teacher": "../v-teacher"}, {}):
        assert teacher_beside(registry, replace(student, metrics=metrics)) == []
