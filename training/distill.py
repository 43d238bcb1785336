"""Knowledge distillation: a teacher's P(positive) over text nobody labelled, as training rows.

Why: the labelled data stops at NSMC's 150k reviews plus the extra rows of
`training.corpora`, but the same crawl holds ~210k reviews rated 5-8 (left out of NSMC as
ambiguous) and far more positives than negatives, and Chatbot_data holds ~12k everyday chat
utterances with no sentiment label at all. A teacher (an ensemble trained on the labelled
rows) gives each of them a probability; networks trained on those probabilities learn what
the ensemble knows on text they would otherwise never see, and each member moves towards
the ensemble's accuracy. The probability, not a 0/1 verdict, is the target: "this review
is 60% positive" is information a hard label throws away.

Held-out texts (the NSMC test file, the hand-labelled chat sets) are never distilled on.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nlp.ensemble import Servable
from nlp.trace import Trace
from training.array_cache import cached_array
from training.corpora import (
    CHATBOT_FILE,
    EXTRA_REVIEWS_FILE,
    KOTE_LABELS_FILE,
    LabelledRows,
    chatbot_messages,
    kote_texts,
    text_key,
    texts_without,
)
from training.text_variants import text_variants

TEACHER_BATCH = 512
TEACHER_CACHE = "teacher"  # under the cache directory: see `teacher_labels`


@dataclass(frozen=True)
class DistillPlan:
    """Which unlabelled text the teacher labels, and how much of it."""

    name: str
    middle_reviews: int = 0  # reviews rated 5-8, taken by a fixed hash of their id
    any_reviews: int = 0  # reviews of any rating, by the same hash
    chat_utterances: bool = False  # the Q column of Chatbot_data
    # How much of the teacher's P(positive) goes into the target of every labelled training
    # row (0: its 0/1 label as it is). A star or a vote says "positive"; the teacher says how
    # sure anyone could be, which is what a small student can learn most from.
    labelled_weight: float = 0.0
    # The extra reviews that NSMC's rule labels (rated 1-4 or 9-10) count as labelled rows:
    # their star moves the teacher's probability as a label does (`labelled_weight`). A
    # review that argues with other viewers' low ratings reads negative to the teacher and
    # is rated 10. No plan that `make` runs uses it: measured worse (docs/results.md, "The
    # extra reviews' stars as labels"), since every starred review left to distil is positive.
    stars: bool = False
    # Each chat-like row (the labelled chat sources and the distilled chat utterances) is
    # seen this many times an epoch; they are 4% of the student's 640,000 rows. No plan
    # that `make` runs uses it: four copies gained 0.2-0.7 points of chat dev and cost
    # 0.1-0.3 of NSMC test (docs/results.md, "A chat dev set that can measure 0.3 points").
    chat_copies: int = 1
    # Every other chat-like text here as distillation text too: Chatbot_data's replies (its
    # A column) and the KOTE comments whose votes decide no label (the decided ones are
    # labelled rows already). Chat is where the student trails its teacher most; no plan
    # that `make` runs uses it: it gained 0.7 points of chat dev and cost 0.3 of NSMC test
    # (docs/results.md, "A chat dev set that can measure 0.3 points").
    more_chat: bool = False
    # How much the teacher's verdict after each word but the last counts, all of a text's
    # words together, against its final target's 1 (training.word_targets); 0: final only.
    word_weight: float = 0.0
    # Chat-like variants of the training texts, this many of each kind, labelled by the
    # teacher like any distilled text (training.text_variants: ㅋㅋ and emoji added, two
    # messages joined, fragments of reviews).
    variants: int = 0


NO_DISTILLATION = DistillPlan("none")
REVIEWS_AND_CHAT = DistillPlan("reviews+chat", middle_reviews=80_000, chat_utterances=True)
# The student serves alone, so it learns all it can of the ensemble: the teacher's view of
# every one of the 482,258 extra reviews, of any rating (the labelled ones included: a
# probability says more than a star), of the chat utterances, and, halfway, of every
# labelled row (docs/results.md, "The student, trained": chosen on NSMC validation and chat
# dev; 200,000 reviews gave 0.8849 / 0.848, all of them 0.8890 / 0.871).
STUDENT_PLAN = DistillPlan(
    "student", any_reviews=482_258, chat_utterances=True, labelled_weight=0.5
)
STUDENT_STARS_PLAN = replace(STUDENT_PLAN, name="student+stars", stars=True)
STUDENT_CHAT_PLAN = replace(STUDENT_PLAN, name="student+chat", chat_copies=4)
STUDENT_MORE_CHAT_PLAN = replace(STUDENT_CHAT_PLAN, name="student+morechat", more_chat=True)
STUDENT_WORDS_PLAN = replace(STUDENT_PLAN, name="student+words", word_weight=0.5)
STUDENT_VARIANTS_PLAN = replace(STUDENT_PLAN, name="student+variants", variants=40_000)
# The variants plan with every chat-like text there is, chat seen four times an epoch: two
# annealed epochs of it took the two-layer piece student's chat gap to its teacher from
# 0.47 points to -0.06 at the same NSMC test (docs/results.md, "More chat for the
# two-layer student").
STUDENT_VARIANTS_MORE_CHAT_PLAN = replace(
    STUDENT_VARIANTS_PLAN, name="student+variants+morechat", chat_copies=4, more_chat=True
)
PLANS: dict[str, DistillPlan] = {
    plan.name: plan
    for plan in (
        NO_DISTILLATION,
        REVIEWS_AND_CHAT,
        STUDENT_PLAN,
        STUDENT_STARS_PLAN,
        STUDENT_CHAT_PLAN,
        STUDENT_MORE_CHAT_PLAN,
        STUDENT_WORDS_PLAN,
        STUDENT_VARIANTS_PLAN,
        STUDENT_VARIANTS_MORE_CHAT_PLAN,
    )
}
# Labelled rows that read like chat, by their source (training.corpora).
CHAT_SOURCES = frozenset({"kote", "written", "breakup"})
# What `python -m training.train --config NAME` distils by default: the default ensemble
# learns from its own teacher (docs/results.md, "More data"), the student from the served
# ensemble and its chat-like variants (chat dev +2.4 points, NSMC validation level:
# docs/results.md, "Chat-like variants"); other single networks, trained to compare, do not.
# Every configuration named `student...` has one here (tests/test_corpora.py holds to it).
DISTILL_PLANS: dict[str, DistillPlan] = {
    "default": REVIEWS_AND_CHAT,
    "student": STUDENT_VARIANTS_PLAN,
    "student-pieces": STUDENT_VARIANTS_PLAN,
    "student-pieces-deep": STUDENT_VARIANTS_PLAN,
    "student-lstm": STUDENT_PLAN,
}


@dataclass(frozen=True)
class SoftRows:
    texts: list[str]
    probabilities: list[float]  # the teacher's P(positive) for each text


def unlabelled_texts(
    plan: DistillPlan,
    nsmc_dir: Path | None,
    chat_dir: Path | None,
    held_out: Iterable[str],
) -> list[str]:
    """The plan's texts, minus held-out ones and duplicates; a source the machine does not
    have is skipped with a warning (the version's metrics record what was used)."""
    texts: list[str] = []
    missing = "warning: no {} in {}: not distilled on"
    if plan.middle_reviews or plan.any_reviews:
        path = nsmc_dir / EXTRA_REVIEWS_FILE if nsmc_dir else None
        if path and path.is_file():
            texts += middle_reviews(path, plan.middle_reviews)
            texts += reviews_by_hash(path, plan.any_reviews, ratings=range(1, 11))
        else:
            print(missing.format(EXTRA_REVIEWS_FILE, "NSMC_DIR"), file=sys.stderr)
    for name, path in _chat_sources(plan, chat_dir).items():
        if path is None:
            print(missing.format(name, "CHAT_DATA_DIR"), file=sys.stderr)
    texts += distilled_chat(plan, chat_dir)
    return texts_without(texts, held_out)


def _chat_sources(plan: DistillPlan, chat_dir: Path | None) -> dict[str, Path | None]:
    """The chat files the plan distils, each None where the machine does not have it."""
    wanted = [CHATBOT_FILE] if plan.chat_utterances or plan.more_chat else []
    wanted += [KOTE_LABELS_FILE] if plan.more_chat else []
    paths = {name: chat_dir / name if chat_dir else None for name in wanted}
    return {name: path if path and path.is_file() else None for name, path in paths.items()}


def distilled_chat(plan: DistillPlan, chat_dir: Path | None) -> list[str]:
    """The chat-like texts the plan distils, held-out and labelled ones not yet removed."""
    sources = _chat_sources(plan, chat_dir)
    texts: list[str] = []
    chatbot = sources.get(CHATBOT_FILE)
    if chatbot is not None:
        texts += chatbot_messages(chatbot) if plan.chat_utterances else []
        texts += chatbot_messages(chatbot, column="A") if plan.more_chat else []
    kote = sources.get(KOTE_LABELS_FILE)
    if kote is not None:
        texts += kote_texts(kote.parent.parent)
    return texts


def chat_text_keys(extra: LabelledRows, chat_dir: Path | None, plan: DistillPlan) -> set[str]:
    """The keys of every chat-like text a run may train on: labelled rows from a chat
    source and the chat texts the plan distils (distilled ones are not marked with a source)."""
    keys = {
        text_key(text)
        for text, source in zip(extra.texts, extra.sources, strict=True)
        if source in CHAT_SOURCES
    }
    return keys | {text_key(text) for text in distilled_chat(plan, chat_dir)}


def plan_variants(
    texts: Sequence[str],
    extra: LabelledRows,
    chat_dir: Path | None,
    plan: DistillPlan,
    per_kind: int,
    excluded: Iterable[str],
) -> list[str]:
    """Chat-like variants of a run's texts (its distilled ones and its labelled chat rows),
    none spelling an `excluded` text: the held-out sets and NSMC's training file, whose
    validation rows a review fragment could otherwise copy, and the labelled rows (a text
    has one target)."""
    chat_keys = chat_text_keys(extra, chat_dir, plan)
    chat = [text for text in [*extra.texts, *texts] if text_key(text) in chat_keys]
    reviews = [text for text in texts if text_key(text) not in chat_keys]
    return texts_without(text_variants(chat, reviews, per_kind), excluded)


def with_copies(
    texts: Sequence[str], labels: Sequence[float], keys: set[str], copies: int
) -> tuple[list[str], list[float]]:
    """The rows, then `copies - 1` more of each row whose text's key is in `keys`."""
    chosen = [row for row, text in enumerate(texts) if text_key(text) in keys]
    repeated = chosen * (copies - 1)
    return (
        [*texts, *(texts[row] for row in repeated)],
        [*labels, *(labels[row] for row in repeated)],
    )


def middle_reviews(path: Path, count: int) -> list[str]:
    return reviews_by_hash(path, count, ratings=range(5, 9))


def reviews_by_hash(path: Path, count: int, ratings: range) -> list[str]:
    """``count`` reviews rated within ``ratings``, the same ones on every machine."""
    if not count:
        return []
    rows = [
        (hashlib.sha256(review_id.encode()).digest(), text)
        for review_id, rating, text in _rated_rows(path)
        if rating in ratings
    ]
    rows.sort()
    return [text for _, text in rows[:count]]


def star_labels(path: Path) -> dict[str, int]:
    """NSMC's rule over the extra reviews, by text key: rated 1-4 is 0, 9-10 is 1."""
    return {
        text_key(text): int(rating >= 9)
        for _, rating, text in _rated_rows(path)
        if not 5 <= rating <= 8
    }


def _rated_rows(path: Path) -> Iterator[tuple[str, int, str]]:
    """(id, rating, text) of each well-formed row of the extra reviews' file."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[1].isdigit():
                yield fields[0], int(fields[1]), fields[2]


def starred(soft: SoftRows, stars: dict[str, int], weight: float) -> SoftRows:
    """Each text NSMC's rule labels: its label moved `weight` of the way to the teacher's
    probability, as `blended_labels` does for the labelled rows."""
    probabilities = []
    for text, probability in zip(soft.texts, soft.probabilities, strict=True):
        star = stars.get(text_key(text))
        probabilities.append(probability if star is None else blend(star, probability, weight))
    return SoftRows(soft.texts, probabilities)


def blend(label: float, probability: float, weight: float) -> float:
    """A label moved `weight` of the way to the teacher's probability, to 4 places."""
    return round((1 - weight) * label + weight * probability, 4)


def blended_labels(
    teacher: Servable,
    texts: Sequence[str],
    labels: Sequence[float],
    weight: float,
    progress: bool,
    cache_dir: Path | None = None,
) -> list[float]:
    """Each label moved `weight` of the way to the teacher's probability for its text; a
    text the teacher cannot read keeps its label."""
    soft = teacher_labels(teacher, texts, progress, cache_dir)
    by_text = dict(zip(soft.texts, soft.probabilities, strict=True))
    return [
        blend(label, by_text[text], weight) if text in by_text else label
        for text, label in zip(texts, labels, strict=True)
    ]


def teacher_labels(
    teacher: Servable,
    texts: Sequence[str],
    progress: bool = True,
    cache_dir: Path | None = None,
) -> SoftRows:
    """The teacher's final P(positive) for each text; texts it cannot read are dropped.

    With a `cache_dir`, the probabilities are kept under the teacher's version and the
    texts' hash: the student's 640,000 texts take the ensemble about 13 minutes, which a
    resumed or repeated run then skips."""
    path = teacher_cache_path(cache_dir, TEACHER_CACHE, teacher.version, texts, ".npy")
    probabilities = cached_array(path, len(texts), lambda: _label(teacher, texts, progress))
    readable = ~np.isnan(probabilities)
    return SoftRows(
        [text for text, kept in zip(texts, readable, strict=True) if kept],
        [float(p) for p in probabilities[readable]],
    )


def _label(teacher: Servable, texts: Sequence[str], progress: bool) -> np.ndarray:
    """P(positive) rounded to 4 places for each text; NaN where the teacher reads nothing."""
    probabilities = np.full(len(texts), np.nan)
    for row, trace in enumerate(traced(teacher, texts, progress, "teacher")):
        if not trace.is_empty:
            probabilities[row] = round(float(trace.positive), 4)
    return probabilities


def traced(teacher: Servable, texts: Sequence[str], progress: bool, desc: str) -> Iterator[Trace]:
    """The teacher's trace of each text in order, a batch at a time, under a progress bar."""
    with tqdm(total=len(texts), unit="text", desc=desc, disable=not progress) as bar:
        for start in range(0, len(texts), TEACHER_BATCH):
            batch = texts[start : start + TEACHER_BATCH]
            yield from teacher.trace_batch(batch)
            bar.update(len(batch))


def teacher_cache_path(
    cache_dir: Path | None, folder: str, teacher: str, texts: Sequence[str], suffix: str
) -> Path | None:
    """One file per teacher version and list of texts; a version's weights never change
    under its name (training.registry), so the name stands for them."""
    if cache_dir is None:
        return None
    digest = hashlib.sha256(teacher.encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    return cache_dir / folder / f"{digest.hexdigest()[:24]}{suffix}"
