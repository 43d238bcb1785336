"""Turn users' correction rows into extra training data and a held-out part for the gate.

Pure functions over plain rows, so the rules (who counts, which label wins, which texts
judge a candidate instead of training it) can be read and tested without a model.

Order of the rules, and why:

1. Per-user cap first: one enthusiastic (or hostile) user must not outvote everyone, so
   their surplus rows are set aside *before* votes are counted. The newest rows are kept,
   because a user's latest opinion is the one they hold now. Capped rows stay pending and
   count in a later run.
2. Group by normalised text and take the majority label. A tie means people disagree, so
   the text teaches nothing; its rows stay pending until another vote breaks the tie.
3. Held-out split by a hash of the normalised text: the same text lands on the same side
   in every run, so a text that judged one candidate is never trained on by the next one
   (which would make the gate grade its own homework).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

DEFAULT_MAX_PER_USER = 50
DEFAULT_HELDOUT_FRACTION = 0.2
_HASH_SPACE = float(1 << 64)


class CorrectionLike(Protocol):
    """What a correction must offer: `bot.storage.Correction` and `CorrectionRow` both do."""

    @property
    def id(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def corrected_label(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def created_at(self) -> float: ...


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """One correction as exported by the bot to the retraining process (JSON object)."""

    id: int
    text: str
    corrected_label: int
    user_id: int
    created_at: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorrectionRow:
        label = int(data["corrected_label"])
        if label not in (0, 1):
            raise ValueError(f"correction {data.get('id')}: label must be 0 or 1, not {label}")
        return cls(
            id=int(data["id"]),
            text=str(data["text"]),
            corrected_label=label,
            user_id=int(data["user_id"]),
            created_at=float(data["created_at"]),
        )

    @classmethod
    def of(cls, row: CorrectionLike) -> CorrectionRow:
        return cls(row.id, row.text, row.corrected_label, row.user_id, row.created_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Example:
    """One text to learn (or to judge a candidate by), and the rows that voted for it."""

    text: str  # normalised
    label: int
    ids: tuple[int, ...]  # every row of this text, majority and minority alike


@dataclass(frozen=True)
class CorrectionSet:
    train: tuple[Example, ...]
    heldout: tuple[Example, ...]
    rows_in: int
    duplicates: int  # rows merged into another row with the same text
    conflicts: int  # texts whose rows disagreed (resolved by majority or dropped as ties)
    ties: int  # conflicting texts dropped because no label had a majority
    capped: int  # rows left for a later run by the per-user cap

    @property
    def train_texts(self) -> list[str]:
        return [example.text for example in self.train]

    @property
    def train_labels(self) -> list[int]:
        return [example.label for example in self.train]

    @property
    def heldout_texts(self) -> list[str]:
        return [example.text for example in self.heldout]

    @property
    def heldout_labels(self) -> list[int]:
        return [example.label for example in self.heldout]

    @property
    def train_ids(self) -> list[int]:
        return sorted(i for example in self.train for i in example.ids)

    @property
    def heldout_ids(self) -> list[int]:
        return sorted(i for example in self.heldout for i in example.ids)

    @property
    def used_ids(self) -> list[int]:
        """Rows this run decided on; ties and capped rows are not among them."""
        return sorted(self.train_ids + self.heldout_ids)

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows_in,
            "train": len(self.train),
            "heldout": len(self.heldout),
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "ties": self.ties,
            "capped": self.capped,
        }


def normalise(text: str) -> str:
    """NFC, trimmed, whitespace collapsed: the same key `bot.storage` uses for a text."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def is_heldout(normalised_text: str, fraction: float) -> bool:
    """Stable across runs, processes and machines (unlike `hash()`, which is salted)."""
    digest = hashlib.sha256(normalised_text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPACE < fraction


def cap_per_user(
    rows: Iterable[CorrectionLike], max_per_user: int | None
) -> tuple[list[CorrectionLike], int]:
    """Each user's newest `max_per_user` rows (ties in time broken by the higher id)."""
    by_user: dict[int, list[CorrectionLike]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    kept: list[CorrectionLike] = []
    capped = 0
    for user_rows in by_user.values():
        user_rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
        limit = len(user_rows) if max_per_user is None else max_per_user
        kept.extend(user_rows[:limit])
        capped += len(user_rows) - len(user_rows[:limit])
    kept.sort(key=lambda row: row.id)
    return kept, capped


def majority_label(labels: Sequence[int]) -> int | None:
    """The label most rows gave, or None on a tie."""
    ranked = Counter(labels).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def build_correction_set(
    rows: Iterable[CorrectionLike],
    *,
    max_per_user: int | None = DEFAULT_MAX_PER_USER,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
) -> CorrectionSet:
    if max_per_user is not None and max_per_user < 1:
        raise ValueError(f"max_per_user must be at least 1, not {max_per_user}")
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be within [0, 1), not {heldout_fraction}")
    rows = list(rows)
    kept, capped = cap_per_user(rows, max_per_user)
    groups: dict[str, list[CorrectionLike]] = defaultdict(list)
    for row in kept:
        key = normalise(row.text)
        if key:
            groups[key].append(row)
    train: list[Example] = []
    heldout: list[Example] = []
    conflicts = ties = 0
    for key, members in groups.items():
        labels = [row.corrected_label for row in members]
        conflicts += len(set(labels)) > 1
        label = majority_label(labels)
        if label is None:
            ties += 1
            continue
        example = Example(key, label, tuple(sorted(row.id for row in members)))
        (heldout if is_heldout(key, heldout_fraction) else train).append(example)
    return CorrectionSet(
        train=tuple(train),
        heldout=tuple(heldout),
        rows_in=len(rows),
        duplicates=sum(len(members) - 1 for members in groups.values()),
        conflicts=conflicts,
        ties=ties,
        capped=capped,
    )


def write_rows(path: Path, rows: Iterable[CorrectionLike]) -> int:
    """The exchange file between the bot and the retraining process; returns the count."""
    data = [CorrectionRow.of(row).to_dict() for row in rows]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return len(data)


def read_rows(path: Path) -> list[CorrectionRow]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of corrections")
    return [CorrectionRow.from_dict(item) for item in data]
