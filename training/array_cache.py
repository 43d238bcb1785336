"""Arrays computed once and kept in the cache directory: a model's outputs over a fixed
list of texts (the gate's NSMC predictions, a teacher's labels) do not change between
runs, and computing them again costs minutes.

A file is written aside and renamed, so a run killed while writing leaves none; a file
that is cut short, damaged or of the wrong length is computed again. A cache that cannot
be written (a full disk, a read-only folder) is said on stderr, and the run goes on with
what it computed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def cached_array(path: Path | None, length: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored at `path` if it holds `length` values, else `compute()`, stored
    there; no `path`: computed every time."""
    if path is None:
        return compute()
    stored = _read(path, length)
    if stored is not None:
        return stored
    array = compute()
    kept_aside(path, lambda file: np.save(file, array, allow_pickle=False))
    return array


def kept_aside(path: Path, write: Callable[[BinaryIO], object]) -> bool:
    """`write` into a file beside `path`, then renamed to it, so a run killed while writing
    leaves none. A cache that cannot be written is said on stderr (False): the run
    itself goes on with what it computed."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as file:
            write(file)
        os.replace(partial, path)
    except OSError as error:
        print(f"warning: {path} not kept ({error}); computed again next time", file=sys.stderr)
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    return True


def _read(path: Path, length: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if array.shape == (length,) else None
