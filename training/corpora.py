"""Labelled training rows beyond NSMC's 150k: the extra star-rated reviews of the same crawl
and chat-like comments, each turned into labels by a stated rule.

Why these rules:

* **Extra reviews** (`reviews_extra.tsv`, id, rating 1-10, text): NSMC's own rule labels a
  rating of 1-4 negative and 9-10 positive and leaves 5-8 out, so the extra rows are read the
  same way. The crawl holds 23 positives for every negative; taking them all would teach the
  model that reviews are mostly positive, so positives are sampled (by a fixed hash of the
  id, not by position) to `positives_per_negative` times the negatives.
* **KOTE** (online comments, each with the emotions its five raters chose): the emotions are
  mapped to a polarity (`POSITIVE_EMOTIONS`, `NEUTRAL_EMOTIONS`, the rest negative); a comment
  is positive when at least `kote_margin` of its polar emotions are positive, negative when at
  most 1 - `kote_margin` are, and left out otherwise. It is the only labelled text here that
  reads like chat rather than a film review.
* **Chatbot_data's break-up topic** (songys/Chatbot_data: everyday messages filed under three
  topics, 0 daily life, 1 break-up, 2 love): read as negative. In the hand-labelled sample of
  `benchmarks/chat/chat_dev.txt` (every 25th row), 103 of the 104 break-up messages with a
  polarity are negative (39 of 143 had none); daily life (87% negative) and love (72%) are
  mixed and stay unlabelled (the teacher labels them: training.distill). Sadness, longing
  and tears are praise in a film review ("눈물이 나네", "가슴이 아프네"), and a model that has
  only read reviews says so of a friend's "카톡사진을 보니 눈물이 나네".

Nothing that is evaluated is ever trained on: every row whose normalised text equals a text
of the NSMC test file or of a held-out chat set is dropped (`without_held_out`), whatever its
source says about itself.
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import DataError, read_corpus

EXTRA_REVIEWS_FILE = "reviews_extra.tsv"
CHATBOT_FILE = "chatbot_data/ChatbotData.csv"  # columns Q (the message), A, label (topic)
BREAKUP_TOPIC = "1"
# Everyday chat messages written and labelled for training (training/chat/README.md).
WRITTEN_CHAT = Path(__file__).resolve().parent / "chat"
# Hand-labelled chat sets that models are tuned or judged on (benchmarks/chat/README.md).
CHAT_SETS = Path(__file__).resolve().parents[1] / "benchmarks" / "chat"
KOTE_FILES = ("kote/val.tsv", "kote/test.tsv")
KOTE_LABELS_FILE = "kote/labels.txt"

POSITIVE_EMOTIONS = frozenset(
    {
        "환영/호의",
        "감동/감탄",
        "고마움",
        "존경",
        "기대감",
        "뿌듯함",
        "편안/쾌적",
        "아껴주는",
        "즐거움/신남",
        "흐뭇함(귀여움/예쁨)",
        "행복",
        "기쁨",
        "안심/신뢰",
    }
)
# Emotions that say nothing about whether the writer feels good or bad about the subject.
NEUTRAL_EMOTIONS = frozenset({"없음", "놀람", "비장함", "깨달음", "신기함/관심"})


@dataclass(frozen=True)
class LabelledRows:
    """Texts with 0/1 labels and the source each came from (for the training report)."""

    texts: list[str]
    labels: list[int]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: LabelledRows) -> LabelledRows:
        return LabelledRows(
            self.texts + other.texts, self.labels + other.labels, self.sources + other.sources
        )

    def share(self, fraction: float) -> LabelledRows:
        """An evenly spread `fraction` of the rows (every k-th), for runs on a slice of NSMC:
        a 2,000-review test run must not train on 30,000 extra rows."""
        if fraction >= 1:
            return self
        keep = range(0, len(self), max(1, round(1 / max(fraction, 1e-9))))
        return LabelledRows(
            [self.texts[i] for i in keep],
            [self.labels[i] for i in keep],
            [self.sources[i] for i in keep],
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """{source: {"0": negatives, "1": positives}}, for the version's metrics."""
        result: dict[str, dict[str, int]] = {}
        for source, label in zip(self.sources, self.labels, strict=True):
            per_label = result.setdefault(source, {"0": 0, "1": 0})
            per_label[str(label)] += 1
        return result


EMPTY = LabelledRows([], [], [])


@dataclass(frozen=True)
class DataMix:
    """Which extra labelled text a training run adds to NSMC's training file, and how much.

    Saved with every version (`metrics["data"]`), so a figure can always be traced back to
    the data it was trained on.
    """

    name: str
    extra_reviews: bool = False
    positives_per_negative: float = 1.0
    kote: bool = False
    kote_margin: float = 0.75
    # The project's own hand-written chat messages, each seen this many times per epoch:
    # a few thousand rows among 180k reviews would otherwise barely move the networks.
    written_chat_repeat: int = 0
    breakup_chat: bool = False  # Chatbot_data's break-up messages, as negatives


NSMC_ONLY = DataMix("nsmc")
WITH_REVIEWS = DataMix("nsmc+reviews", extra_reviews=True)
WITH_CHAT = DataMix("nsmc+reviews+kote", extra_reviews=True, kote=True)
WITH_WRITTEN_CHAT = DataMix(
    "nsmc+reviews+kote+written", extra_reviews=True, kote=True, written_chat_repeat=3
)
WITH_BREAKUP_CHAT = DataMix(
    "nsmc+reviews+kote+written+breakup",
    extra_reviews=True,
    kote=True,
    written_chat_repeat=3,
    breakup_chat=True,
)
MIXES: dict[str, DataMix] = {
    mix.name: mix
    for mix in (NSMC_ONLY, WITH_REVIEWS, WITH_CHAT, WITH_WRITTEN_CHAT, WITH_BREAKUP_CHAT)
}


def held_out_chat_texts(folder: Path = CHAT_SETS) -> list[str]:
    """Every text of the hand-labelled chat sets: never a training row."""
    texts: list[str] = []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == 3:
                texts.append(fields[1])
    return texts


def chat_set(files: Sequence[str]) -> tuple[list[str], list[int]]:
    """The texts and labels of hand-labelled chat files of `CHAT_SETS`, one after another."""
    texts: list[str] = []
    labels: list[int] = []
    for name in files:
        corpus = read_corpus(CHAT_SETS / name)
        texts += corpus.texts
        labels += corpus.labels
    return texts, labels


def text_key(text: str) -> str:
    """NFC, whitespace collapsed: two spellings of one text share a key."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def extra_rows(
    mix: DataMix,
    nsmc_dir: Path | None,
    chat_dir: Path | None,
    held_out: Iterable[str],
    required: bool = True,
) -> LabelledRows:
    """The rows `mix` adds, held-out texts removed.

    A source the mix asks for but the machine does not have is an error when the mix was
    asked for by name (`required`); for the default mix it is skipped with a warning, so a
    machine with NSMC alone still trains (the version's metrics say what it saw)."""
    rows = EMPTY
    if mix.extra_reviews:
        path = _source(nsmc_dir, EXTRA_REVIEWS_FILE, "NSMC_DIR", required)
        rows = rows + (read_extra_reviews(path, mix) if path else EMPTY)
    if mix.kote:
        path = _source(chat_dir, KOTE_LABELS_FILE, "CHAT_DATA_DIR", required)
        rows = rows + (read_kote(path.parent.parent, mix) if path else EMPTY)
    if mix.breakup_chat:
        path = _source(chat_dir, CHATBOT_FILE, "CHAT_DATA_DIR", required)
        rows = rows + (read_breakup_chat(path) if path else EMPTY)
    rows = without_held_out(rows, held_out)
    if mix.written_chat_repeat:  # repeated on purpose, after the duplicates are dropped
        written = without_held_out(read_written_chat(WRITTEN_CHAT), held_out)
        for _ in range(mix.written_chat_repeat):
            rows = rows + written
    return rows


def chat_sample(chat_dir: Path | None, count: int, seed: int) -> list[str]:
    """`count` chat messages, their labels not read: the written chat of this repository
    and, where CHAT_DATA_DIR has it, KOTE's comments; held-out chat sets excluded."""
    texts = read_written_chat(WRITTEN_CHAT).texts
    if chat_dir is not None and (chat_dir / KOTE_LABELS_FILE).is_file():
        texts = texts + kote_texts(chat_dir)
    texts = texts_without(texts, held_out_chat_texts())
    order = np.random.default_rng(seed).permutation(len(texts))[:count]
    return [texts[i] for i in order]


def read_written_chat(folder: Path) -> LabelledRows:
    texts: list[str] = []
    labels: list[int] = []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == 3 and fields[2] in ("0", "1"):
                texts.append(fields[1])
                labels.append(int(fields[2]))
    return LabelledRows(texts, labels, ["written"] * len(texts))


def _source(folder: Path | None, name: str, variable: str, required: bool) -> Path | None:
    if folder is not None and (folder / name).is_file():
        return folder / name
    message = f"{name} is not in {variable} ({folder or 'unset'})"
    if required:
        raise DataError(f"this data mix needs {message}; set {variable}, or use --data nsmc")
    print(f"warning: {message}: training without it", file=sys.stderr)
    return None


def read_extra_reviews(path: Path, mix: DataMix) -> LabelledRows:
    negatives: list[str] = []
    positives: list[tuple[str, str]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3 or not fields[1].isdigit() or not fields[2].strip():
                continue  # the header, or a malformed row
            review_id, rating, text = fields[0], int(fields[1]), fields[2]
            if rating <= 4:
                negatives.append(text)
            elif rating >= 9:
                positives.append((review_id, text))
    wanted = round(len(negatives) * mix.positives_per_negative)
    positives.sort(key=lambda row: hashlib.sha256(row[0].encode()).digest())
    kept = [text for _, text in positives[:wanted]]
    labels = [0] * len(negatives) + [1] * len(kept)
    return LabelledRows(negatives + kept, labels, ["reviews"] * len(labels))


def read_kote(chat_dir: Path, mix: DataMix) -> LabelledRows:
    texts: list[str] = []
    labels: list[int] = []
    for text, emotions in _kote_comments(chat_dir):
        label = kote_label(emotions, mix.kote_margin)
        if label is not None:
            texts.append(text)
            labels.append(label)
    return LabelledRows(texts, labels, ["kote"] * len(texts))


def kote_texts(chat_dir: Path) -> list[str]:
    """Every KOTE comment, whatever its votes say (read_kote keeps those they decide)."""
    return [text for text, _ in _kote_comments(chat_dir)]


def _kote_comments(chat_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """Each comment with the names of the emotions its raters chose."""
    names = re.findall(r"'([^']+)'", (chat_dir / KOTE_LABELS_FILE).read_text(encoding="utf-8"))
    for name in KOTE_FILES:
        with (chat_dir / name).open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 3:
                    yield fields[1], [names[int(i)] for i in fields[2].split(",") if i.isdigit()]


def chatbot_messages(path: Path, topic: str | None = None, column: str = "Q") -> list[str]:
    """Chatbot_data's messages (its Q column; "A" for the chatbot's replies), in file
    order: all, or one topic's."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            row[column]
            for row in csv.DictReader(handle)
            if row.get(column) and (topic is None or (row.get("label") or "").strip() == topic)
        ]


def read_breakup_chat(path: Path) -> LabelledRows:
    texts = chatbot_messages(path, BREAKUP_TOPIC)
    return LabelledRows(texts, [0] * len(texts), ["breakup"] * len(texts))


def kote_label(emotions: Sequence[str], margin: float) -> int | None:
    positive = sum(emotion in POSITIVE_EMOTIONS for emotion in emotions)
    polar = sum(emotion not in NEUTRAL_EMOTIONS for emotion in emotions)
    if polar == 0:
        return None
    share = positive / polar
    if share >= margin:
        return 1
    if share <= 1 - margin:
        return 0
    return None


def texts_without(texts: Iterable[str], held_out: Iterable[str]) -> list[str]:
    """`texts` minus every one that is (after normalising) a held-out text, and duplicates."""
    seen = {text_key(text) for text in held_out}
    kept = []
    for text in texts:
        key = text_key(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def without_held_out(rows: LabelledRows, held_out: Iterable[str]) -> LabelledRows:
    """Drops every row whose text is (after normalising) a held-out text, and duplicates."""
    seen = {text_key(text) for text in held_out}
    kept = LabelledRows([], [], [])
    for text, label, source in zip(rows.texts, rows.labels, rows.sources, strict=True):
        key = text_key(text)
        if key and key not in seen:
            seen.add(key)
            kept.texts.append(text)
            kept.labels.append(label)
            kept.sources.append(source)
    return kept


# What `make train` adds to NSMC: chosen on the validation split and the chat dev set
# (docs/results.md, "More data"; the break-up messages: chat dev balanced 0.874 -> 0.897,
# NSMC validation unchanged).
DEFAULT_MIX = WITH_BREAKUP_CHAT
