"""The Naver Sentiment Movie Corpus: find it, fetch it once if needed, read it safely.

Format: a header ``id<TAB>document<TAB>label`` then one review per line, label 0 (negative)
or 1 (positive). A malformed line is counted and reported, never fatal: one bad row in a
200k-row crawl must not stop a nightly retrain.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from training.paths import UPSTREAM_BASE_URL, TrainingPaths

SPLITS = ("train", "test")
HEADER = "id\tdocument\tlabel"


class DataError(Exception):
    """The corpus cannot be found, fetched or read; the message says what to do."""


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    labels: list[int]
    malformed: int
    source: Path
    sha256: str

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, limit: int | None) -> Corpus:
        if limit is None or limit >= len(self):
            return self
        return Corpus(
            self.texts[:limit], self.labels[:limit], self.malformed, self.source, self.sha256
        )


def parse_lines(lines: list[str]) -> tuple[list[str], list[int], int]:
    """Rows of (document, label); counts rows that are not ``id, text, 0|1``."""
    texts: list[str] = []
    labels: list[int] = []
    malformed = 0
    for line in lines:
        if not line.strip() or line == HEADER:
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[2].strip() not in ("0", "1") or not fields[0].isdigit():
            malformed += 1
            continue
        texts.append(fields[1])
        labels.append(int(fields[2]))
    return texts, labels, malformed


def read_corpus(path: Path) -> Corpus:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from error
    text = raw.decode("utf-8", errors="replace")
    texts, labels, malformed = parse_lines(text.split("\n"))
    if not texts:
        raise DataError(f"{path} holds no NSMC rows (expected '{HEADER}' lines)")
    if malformed:
        print(f"{path.name}: skipped {malformed} malformed line(s)", file=sys.stderr)
    return Corpus(texts, labels, malformed, path, hashlib.sha256(raw).hexdigest())


def corpus_path(split: str, paths: TrainingPaths | None = None) -> Path:
    """The local file for a split: NSMC_DIR if set, else a one-time download into the cache."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    paths = paths or TrainingPaths.from_env()
    name = f"ratings_{split}.txt"
    if paths.nsmc_dir is not None:
        path = paths.nsmc_dir / name
        if not path.is_file():
            raise DataError(f"NSMC_DIR is {paths.nsmc_dir}, but {name} is not there")
        return path
    cached = paths.cache_dir / "nsmc" / name
    if not cached.is_file():
        download(f"{UPSTREAM_BASE_URL}/{name}", cached)
    return cached


def load_split(split: str, paths: TrainingPaths | None = None) -> Corpus:
    return read_corpus(corpus_path(split, paths))


def download(url: str, destination: Path) -> None:
    """Fetch with a progress bar into a temporary file, check the format, then move it in."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as partial:
        partial_path = Path(partial.name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        partial.write(block)
                        bar.update(len(block))
        except OSError as error:
            partial_path.unlink(missing_ok=True)
            raise DataError(
                f"could not download {url} ({error}); set NSMC_DIR to a folder holding "
                "ratings_train.txt and ratings_test.txt"
            ) from error
    _check_downloaded(partial_path, url)
    shutil.move(partial_path, destination)


def _check_downloaded(path: Path, url: str) -> None:
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline().rstrip("\n")
    if first != HEADER:
        path.unlink(missing_ok=True)
        raise DataError(f"{url} did not return NSMC data (first line {first[:60]!r})")
