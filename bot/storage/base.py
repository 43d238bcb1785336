"""What every repository is given besides the database: the clock it stamps rows with."""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]
