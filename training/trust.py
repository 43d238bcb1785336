"""Which users' corrections may teach the shared model, and how they are split to judge it.

Pure functions over plain rows, so the rules can be read and tested without a model.

Order of the rules, and why:

1. Per-user cap first: one enthusiastic (or hostile) user must not outvote everyone, so
   their surplus rows are set aside *before* votes are counted. The newest rows are kept,
   because a user's latest opinion is the one they hold now. Capped rows stay pending.
2. Group by normalised text and count distinct users per label. An admin's approval
   decides a text; an admin's rejection removes that label's rows from the shared model.
   Otherwise the label most users gave wins, and a tie teaches nothing.
3. Trust (see `training.recipe.TrustRules`): agreement of several users makes a text
   shared; without it, a user's texts count only in a broad batch and only up to a small
   share of it; a text that contradicts a confident verdict of the current model needs
   more agreement. What does not qualify waits, with the reason, for a later run.
4. Folds by a hash of the text: the same text lands in the same fold in every run, so
   the gate's cross-validation is reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from training.recipe import TrustRules

Review = Literal["approved", "rejected"]
_HASH_SPACE = float(1 << 64)
DEFAULT_TRUST = TrustRules()


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


AnyRow = TypeVar("AnyRow", bound=CorrectionLike)


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """One correction as exported by the bot to the retraining process (JSON object).

    `review` is a bot admin's decision on this row's label for this text, if any;
    `learned`: an accepted model already learned it (sent to full retrains only, which
    start from scratch and must teach it again; see `carried`).
    """

    id: int
    text: str
    corrected_label: int
    user_id: int
    created_at: float
    review: Review | None = None
    learned: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorrectionRow:
        label = int(data["corrected_label"])
        if label not in (0, 1):
            raise ValueError(f"correction {data.get('id')}: label must be 0 or 1, not {label}")
        review = data.get("review")
        if review not in (None, "approved", "rejected"):
            raise ValueError(f"correction {data.get('id')}: review must be approved or rejected")
        return cls(
            id=int(data["id"]),
            text=str(data["text"]),
            corrected_label=label,
            user_id=int(data["user_id"]),
            created_at=float(data["created_at"]),
            review=review,
            learned=bool(data.get("learned", False)),
        )

    @classmethod
    def of(
        cls, row: CorrectionLike, review: Review | None = None, learned: bool = False
    ) -> CorrectionRow:
        return cls(
            row.id, row.text, row.corrected_label, row.user_id, row.created_at, review, learned
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Route(StrEnum):
    """Why a text may teach the shared model."""

    APPROVED = "approved"  # a bot admin said so
    AGREED = "agreed"  # enough distinct users gave the same label
    BROAD = "broad"  # one user's, within their share of a batch of many users
    LEARNED = "learned"  # an accepted model learned it before (full retrains: `carried`)


class WaitReason(StrEnum):
    """Why a text does not (yet) teach the shared model; the bot translates these."""

    CAPPED = "capped"  # over the user's per-run cap
    TIE = "tie"  # users disagree evenly
    CONFIDENT = "confident"  # contradicts a confident verdict: needs more agreement
    FEW_USERS = "few_users"  # unconfirmed, in a batch of too few users
    OVER_SHARE = "over_share"  # unconfirmed, beyond the user's share of the batch
    REJECTED = "rejected"  # a bot admin rejected this label for this text


@dataclass(frozen=True, slots=True)
class Example:
    """One text the shared model learns, and the rows that voted for it."""

    text: str  # normalised
    label: int
    ids: tuple[int, ...]  # every row of this text that agreed with the label
    route: Route
    users: int  # distinct users who gave the label
    fold: int


@dataclass(frozen=True, slots=True)
class Waiting:
    text: str
    label: int
    ids: tuple[int, ...]
    reason: WaitReason
    users: int


@dataclass(frozen=True)
class Selection:
    used: tuple[Example, ...]
    waiting: tuple[Waiting, ...]
    rows_in: int

    @property
    def texts(self) -> list[str]:
        return [example.text for example in self.used]

    @property
    def labels(self) -> list[int]:
        return [example.label for example in self.used]

    def split(self, fold: int) -> tuple[list[Example], list[Example]]:
        """The corrections a cross-validation probe trains on, and the fold it is judged on."""
        return [e for e in self.used if e.fold != fold], [e for e in self.used if e.fold == fold]

    @property
    def used_ids(self) -> list[int]:
        return sorted(i for example in self.used for i in example.ids)

    def waiting_counts(self) -> dict[str, int]:
        counts = Counter(item.reason.value for item in self.waiting)
        return dict(sorted(counts.items()))

    def route_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(example.route.value for example in self.used).items()))


def normalise(text: str) -> str:
    """The key that makes "좋아요 " and " 좋아요" one text, here and in `bot.storage`.

    NFC as well as whitespace, because some clients send decomposed Hangul (jamo) that
    looks identical on screen.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def fold_of(normalised_text: str, folds: int) -> int:
    """Stable across runs, processes and machines (unlike `hash()`, which is salted)."""
    digest = hashlib.sha256(normalised_text.encode("utf-8")).digest()
    return min(folds - 1, int(int.from_bytes(digest[:8], "big") / _HASH_SPACE * folds))


def cap_per_user(
    rows: Iterable[AnyRow], max_per_user: int | None
) -> tuple[list[AnyRow], list[AnyRow]]:
    """Each user's newest `max_per_user` rows (ties in time broken by the higher id), and
    the rest."""
    by_user: dict[int, list[AnyRow]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    kept: list[AnyRow] = []
    capped: list[AnyRow] = []
    for user_rows in by_user.values():
        user_rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
        limit = len(user_rows) if max_per_user is None else max_per_user
        kept.extend(user_rows[:limit])
        capped.extend(user_rows[limit:])
    kept.sort(key=lambda row: row.id)
    return kept, capped


def majority_label(labels: Sequence[int]) -> int | None:
    """The label most rows gave, or None on a tie."""
    ranked = Counter(labels).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


@dataclass(frozen=True)
class _Text:
    """The votes on one text after the cap, before trust is applied."""

    key: str
    rows: tuple[CorrectionRow, ...]

    def users_for(self, label: int) -> set[int]:
        return {row.user_id for row in self.rows if row.corrected_label == label}

    def ids_for(self, label: int) -> tuple[int, ...]:
        return tuple(sorted(row.id for row in self.rows if row.corrected_label == label))

    def review_of(self, label: int) -> Review | None:
        reviews = {row.review for row in self.rows if row.corrected_label == label}
        return (
            "approved" if "approved" in reviews else "rejected" if "rejected" in reviews else None
        )

    @property
    def newest(self) -> float:
        return max(row.created_at for row in self.rows)


def select_for_training(
    rows: Iterable[CorrectionLike | CorrectionRow],
    positive: Mapping[str, float],
    rules: TrustRules = DEFAULT_TRUST,
    folds: int = 2,
) -> Selection:
    """The texts the shared model may learn from, and why the others wait.

    `positive` maps a normalised text to the current model's P(positive) for it; a text
    missing from it is treated as not confidently judged.
    """
    typed = [row if isinstance(row, CorrectionRow) else CorrectionRow.of(row) for row in rows]
    kept, capped = cap_per_user(typed, rules.max_per_user)
    waiting = [
        Waiting(normalise(r.text), r.corrected_label, (r.id,), WaitReason.CAPPED, 1) for r in capped
    ]
    texts: dict[str, list[CorrectionRow]] = defaultdict(list)
    for row in kept:
        key = normalise(row.text)
        if key:
            texts[key].append(row)
    used: list[Example] = []
    broad: list[tuple[_Text, int]] = []  # unconfirmed texts, with their label
    for key, members in texts.items():
        decided = _decide(_Text(key, tuple(members)), positive.get(key), rules, folds)
        if isinstance(decided, Example):
            used.append(decided)
        elif isinstance(decided, Waiting):
            waiting.append(decided)
        else:
            broad.append(decided)
    more_used, more_waiting = _within_shares(broad, len(used), rules, folds)
    return Selection(
        used=tuple(sorted(used + more_used, key=lambda e: e.ids)),
        waiting=tuple(waiting + more_waiting),
        rows_in=len(typed),
    )


def carried(learned: Iterable[CorrectionRow], selection: Selection) -> list[Example]:
    """What earlier accepted models learned, to teach again in a full retrain: each
    learned text with the label most of its (remaining) users gave. A text the new
    corrections decide is left to them, and a tie teaches nothing. These passed the trust
    rules when they were learned; a forgotten correction is not here at all."""
    decided = {example.text for example in selection.used}
    texts: dict[str, list[CorrectionRow]] = defaultdict(list)
    for row in learned:
        key = normalise(row.text)
        if key and key not in decided:
            texts[key].append(row)
    examples = []
    for key, rows in sorted(texts.items()):
        label = majority_label([row.corrected_label for row in _one_vote_per_user(rows)])
        if label is not None:
            ids = tuple(sorted(row.id for row in rows if row.corrected_label == label))
            users = len({row.user_id for row in rows if row.corrected_label == label})
            examples.append(Example(key, label, ids, Route.LEARNED, users, 0))
    return examples


def _decide(
    text: _Text, positive: float | None, rules: TrustRules, folds: int
) -> Example | Waiting | tuple[_Text, int]:
    """A text's fate on its own votes; unconfirmed texts are returned for the share rule."""
    rejected = [label for label in (0, 1) if text.review_of(label) == "rejected"]
    for approved in (0, 1):
        if text.review_of(approved) == "approved":
            return _example(text, approved, Route.APPROVED, folds)
    live = [row for row in text.rows if row.corrected_label not in rejected]
    if not live:
        gone = rejected[0]
        return Waiting(
            text.key, gone, text.ids_for(gone), WaitReason.REJECTED, len(text.users_for(gone))
        )
    label = majority_label([row.corrected_label for row in _one_vote_per_user(live)])
    if label is None:
        ids = tuple(sorted(row.id for row in live))
        return Waiting(text.key, live[0].corrected_label, ids, WaitReason.TIE, len(ids))
    votes, against = len(text.users_for(label)), len(text.users_for(1 - label))
    against_confident = positive is not None and (
        positive >= rules.confident if label == 0 else positive <= 1 - rules.confident
    )
    needed = rules.confident_agreement if against_confident else rules.agreement
    if votes >= needed and votes > against:
        return _example(text, label, Route.AGREED, folds)
    if against_confident:
        return Waiting(text.key, label, text.ids_for(label), WaitReason.CONFIDENT, votes)
    return text, label


def _within_shares(
    broad: list[tuple[_Text, int]], confirmed: int, rules: TrustRules, folds: int
) -> tuple[list[Example], list[Waiting]]:
    """Unconfirmed texts count only in a batch of at least `min_users` users, and each user
    only up to `max_user_share` of the texts used (their newest first)."""
    owners = {text.key: min(text.users_for(label)) for text, label in broad}
    if len(set(owners.values())) < rules.min_users:
        return [], [_wait(text, label, WaitReason.FEW_USERS) for text, label in broad]
    by_owner: dict[int, list[tuple[_Text, int]]] = defaultdict(list)
    for text, label in broad:
        by_owner[owners[text.key]].append((text, label))
    used: list[Example] = []
    waiting: list[Waiting] = []
    share = rules.max_user_share
    for owned in by_owner.values():
        others = confirmed + len(broad) - len(owned)
        # k of the user's own among k + others: k <= share / (1 - share) * others
        quota = len(owned) if share >= 1 else math.floor(share / (1 - share) * others + 1e-9)
        quota = max(1, quota)
        owned.sort(key=lambda item: item[0].newest, reverse=True)
        used += [_example(text, label, Route.BROAD, folds) for text, label in owned[:quota]]
        waiting += [_wait(text, label, WaitReason.OVER_SHARE) for text, label in owned[quota:]]
    return used, waiting


def _one_vote_per_user(rows: Sequence[CorrectionRow]) -> list[CorrectionRow]:
    """Storage keeps one row per user and text already; rows from elsewhere may not."""
    newest: dict[int, CorrectionRow] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        newest[row.user_id] = row
    return list(newest.values())


def _example(text: _Text, label: int, route: Route, folds: int) -> Example:
    return Example(
        text.key,
        label,
        text.ids_for(label),
        route,
        len(text.users_for(label)),
        fold_of(text.key, folds),
    )


def _wait(text: _Text, label: int, reason: WaitReason) -> Waiting:
    return Waiting(text.key, label, text.ids_for(label), reason, len(text.users_for(label)))


def write_rows(path: Path, rows: Iterable[CorrectionLike | CorrectionRow]) -> int:
    """The exchange file between the bot and the retraining process; returns the count."""
    data = [
        (row if isinstance(row, CorrectionRow) else CorrectionRow.of(row)).to_dict() for row in rows
    ]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return len(data)


def read_rows(path: Path) -> list[CorrectionRow]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of corrections")
    return [CorrectionRow.from_dict(item) for item in data]
