"""`python -m benchmarks.loop_bench --stages --recipe`: the stages to run, the recipe, and a
clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.loop_bench import STAGES, _arguments


def test_every_stage_runs_unless_some_are_chosen() -> None:
    assert _arguments([]) == (set(range(1, STAGES + 1)), None)
    assert _arguments(["--stages", "1"]) == ({1}, None)
    assert _arguments(["--stages", "3,1", "--recipe", "r.json"]) == ({1, 3}, Path("r.json"))


@pytest.mark.parametrize("value", ["0", "5", "one", ","])
def test_a_stage_that_does_not_exist_is_refused(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _arguments(["--stages", value])
    assert exit_info.value.code == 2
    assert "--stages takes numbers from 1 to 4" in capsys.readouterr().err
