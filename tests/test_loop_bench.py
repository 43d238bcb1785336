"""`python -m benchmarks.loop_bench --stages`: the stages to run, and a clear refusal."""

from __future__ import annotations

import pytest

from benchmarks.loop_bench import STAGES, _stages


def test_every_stage_runs_unless_some_are_chosen() -> None:
    assert _stages([]) == set(range(1, STAGES + 1))
    assert _stages(["--stages", "1"]) == {1}
    assert _stages(["--stages", "3,1"]) == {1, 3}


@pytest.mark.parametrize("value", ["0", "5", "one", ","])
def test_a_stage_that_does_not_exist_is_refused(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _stages(["--stages", value])
    assert exit_info.value.code == 2
    assert "--stages takes numbers from 1 to 4" in capsys.readouterr().err
