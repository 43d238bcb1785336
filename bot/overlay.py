"""Corrections that change what the bot says at once, before any retrain, scoped by trust.

The model learns from corrections in batches (training.retrain); people expect more: a
user who says "that was positive" should see it from then on. So every verdict passes
through this overlay, an in-memory index of the corrections by normalised text:

* the user's own correction of the text wins, for that user only;
* for everyone else, a bot admin's approval, or `agreement` distinct users giving the same
  label (more than gave the other), `confident_agreement` when the model is confidently
  of the other view: the same trust rules as the shared model's (training.recipe);
* an admin's rejection of a label removes it for everyone but the users who gave it.

Pure and synchronous: the service loads it from storage at start and keeps it in step
with every write, so a lookup costs a dict access on the hot path, not a database trip.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from training.recipe import TrustRules
from training.trust import CorrectionLike, Review, normalise


class Source(StrEnum):
    YOURS = "yours"  # the reader corrected this text
    AGREED = "agreed"  # enough users agreed
    ADMIN = "admin"  # a bot admin approved it


@dataclass(frozen=True, slots=True)
class OverlayVerdict:
    label: int
    source: Source
    users: int  # distinct users who gave this label


@dataclass(frozen=True, slots=True)
class Vote:
    text_key: str
    user_id: int
    label: int


class CorrectionOverlay:
    def __init__(self, rules: TrustRules) -> None:
        self.rules = rules
        self._votes: dict[str, dict[int, int]] = defaultdict(dict)  # key -> user -> label
        self._reviews: dict[tuple[str, int], Review] = {}

    @classmethod
    def of(
        cls,
        rules: TrustRules,
        votes: Iterable[Vote],
        reviews: Iterable[tuple[str, int, Review]] = (),
    ) -> CorrectionOverlay:
        overlay = cls(rules)
        for vote in votes:
            overlay.add(vote.text_key, vote.user_id, vote.label)
        for key, label, decision in reviews:
            overlay.review(key, label, decision)
        return overlay

    def __len__(self) -> int:
        return sum(len(users) for users in self._votes.values())

    # keeping in step with storage

    def add(self, text: str, user_id: int, label: int) -> None:
        self._votes[normalise(text)][user_id] = label

    def forget_user(self, user_id: int) -> None:
        for key in [key for key, users in self._votes.items() if user_id in users]:
            del self._votes[key][user_id]
            if not self._votes[key]:
                del self._votes[key]

    def review(self, text: str, label: int, decision: Review) -> None:
        self._reviews[(normalise(text), label)] = decision

    # reading

    def lookup(
        self, text: str, user_id: int | None, model_positive: float
    ) -> OverlayVerdict | None:
        """What `user_id` should be told instead of the model's verdict, if anything."""
        key = normalise(text)
        users = self._votes.get(key)
        if user_id is not None and users and user_id in users:
            label = users[user_id]
            return OverlayVerdict(label, Source.YOURS, self._count(key, label))
        return self.shared(key, model_positive)

    def shared(self, text: str, model_positive: float) -> OverlayVerdict | None:
        """The verdict every user gets for `text`, if the corrections of it are trusted."""
        key = normalise(text)
        for label in (0, 1):
            if self._reviews.get((key, label)) == "approved":
                return OverlayVerdict(label, Source.ADMIN, self._count(key, label))
        counts = {label: self._count(key, label) for label in (0, 1)}
        label = 1 if counts[1] > counts[0] else 0
        if counts[label] <= counts[1 - label] or self._reviews.get((key, label)) == "rejected":
            return None
        if counts[label] >= self.needed(label, model_positive):
            return OverlayVerdict(label, Source.AGREED, counts[label])
        return None

    def needed(self, label: int, model_positive: float) -> int:
        """How many users must agree on `label` for it to count for everyone."""
        confident_against = (
            model_positive >= self.rules.confident
            if label == 0
            else model_positive <= 1 - self.rules.confident
        )
        return self.rules.confident_agreement if confident_against else self.rules.agreement

    def _count(self, key: str, label: int) -> int:
        return sum(1 for given in self._votes.get(key, {}).values() if given == label)


@dataclass(frozen=True, slots=True)
class ContestedText:
    """A text whose corrections only a bot admin can settle for everyone (see /review)."""

    correction_id: int  # the newest correction of the label: the handle in the buttons
    text: str
    label: int  # the label the corrections ask for
    votes_for: int
    votes_against: int
    model_positive: float  # the model's P(positive) when the newest was made


def contested(
    corrections: Iterable[CorrectionFacts],
    decided: set[tuple[str, int]],
    rules: TrustRules,
    limit: int = 5,
) -> list[ContestedText]:
    """Pending labels not yet decided by an admin that agreement alone will not settle
    soon: users disagree about the text, or they contradict a confident verdict.
    Newest first."""
    by_text: dict[str, list[CorrectionFacts]] = defaultdict(list)
    for row in corrections:
        by_text[normalise(row.text)].append(row)
    found = []
    for key, rows in by_text.items():
        for label in (0, 1):
            asking = [row for row in rows if row.corrected_label == label]
            if not asking or (key, label) in decided:
                continue
            newest = max(asking, key=lambda row: (row.created_at, row.id))
            against = sum(1 for row in rows if row.corrected_label != label)
            p = newest.predicted_probability
            confident = p >= rules.confident if label == 0 else p <= 1 - rules.confident
            settled = len(asking) >= rules.confident_agreement and len(asking) > against
            if (against or confident) and not settled:
                found.append(ContestedText(newest.id, newest.text, label, len(asking), against, p))
    found.sort(key=lambda item: item.correction_id, reverse=True)
    return found[:limit]


class CorrectionFacts(CorrectionLike, Protocol):
    """What `contested` reads of a stored correction (bot.storage.Correction fits): a
    correction and what the model said when it was made."""

    @property
    def predicted_probability(self) -> float: ...
