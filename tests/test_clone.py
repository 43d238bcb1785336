"""A clone tests itself: the data the tests read is in the repository, not beside it.

CI runs the suite in a fresh clone with nothing next to it (no ``../shared``, no NSMC_DIR,
no TELEGRAM_API_SPEC, no network); this test makes that clone here and runs, inside it, two
tests that read NSMC and the Bot API description, so a file missing from git fails now.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# One test that reads NSMC and one that runs the fake Bot API (the description), by name.
PROBES = (
    "tests/test_tokenizers.py::test_mecab_fast_path_equals_the_public_parse",
    "tests/test_fake_telegram.py::test_get_me_describes_a_bot",
)


def _clone(target: Path) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("this test needs git and a git checkout of the repository", pytrace=False)
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, timeout=120)
    return target


@pytest.mark.slow
def test_a_clone_finds_its_test_data_without_anything_beside_it(tmp_path: Path) -> None:
    clone = _clone(tmp_path / "alone" / "repo")
    assert not (clone.parent / "shared").exists()
    for name in ("nsmc/ratings_train.txt", "nsmc/ratings_test.txt", "telegram-bot-api.json"):
        assert (clone / "tests" / "data" / name).is_file(), f"tests/data/{name} is not in git"
    env = {k: v for k, v in os.environ.items() if k not in ("NSMC_DIR", "TELEGRAM_API_SPEC")}
    env["PYTHONPATH"] = str(clone)  # the clone's packages, not the editable install's

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, *args],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    where = "import tests.conftest as c, tests.fake_telegram.spec as s; "
    where += "print(c.DEFAULT_NSMC); print(s.spec_path())"
    assert run("-c", where).split() == [
        str(clone / "tests" / "data" / "nsmc"),
        str(clone / "tests" / "data" / "telegram-bot-api.json"),
    ]
    assert "2 passed" in run("-m", "pytest", "-q", "-p", "no:cacheprovider", *PROBES)
