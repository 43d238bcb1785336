"""The extra training text: labelled by the stated rules, balanced, and never a text that
a model is judged on (the NSMC test file, the hand-labelled chat sets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from training.corpora import (
    CHATBOT_FILE,
    MIXES,
    NSMC_ONLY,
    WITH_CHAT,
    WITH_REVIEWS,
    WITH_WRITTEN_CHAT,
    WRITTEN_CHAT,
    DataMix,
    extra_rows,
    held_out_chat_texts,
    kote_label,
    read_breakup_chat,
    read_extra_reviews,
    read_written_chat,
    text_key,
)
from training.data import DataError, load_split

REPO = Path(__file__).resolve().parents[1]
EXTRA = REPO / "tests" / "data" / "extra"


def test_extra_reviews_follow_nsmc_rules_and_are_balanced() -> None:
    rows = read_extra_reviews(EXTRA / "reviews_extra.tsv", WITH_REVIEWS)
    ratings = {}
    for line in (EXTRA / "reviews_extra.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        _, rating, text = line.split("\t")
        ratings[text] = int(rating)
    assert rows.labels.count(0) == rows.labels.count(1) == 150
    for text, label in zip(rows.texts, rows.labels, strict=True):
        assert (ratings[text] <= 4) if label == 0 else (ratings[text] >= 9)
    assert all(ratings[t] < 5 or ratings[t] > 8 for t in rows.texts)  # 5-8 are never used


def test_more_positives_per_negative_when_asked() -> None:
    mix = DataMix("x", extra_reviews=True, positives_per_negative=0.5)
    rows = read_extra_reviews(EXTRA / "reviews_extra.tsv", mix)
    assert rows.labels.count(0) == 150 and rows.labels.count(1) == 75


def test_kote_emotions_map_to_a_polarity_or_to_nothing() -> None:
    assert kote_label(["기쁨", "행복", "감동/감탄", "놀람"], 0.75) == 1
    assert kote_label(["짜증", "화남/분노", "슬픔", "기대감"], 0.75) == 0  # 1 of 4 polar: positive
    assert kote_label(["기쁨", "짜증"], 0.75) is None  # mixed: left out
    assert kote_label(["없음", "놀람"], 0.75) is None  # nothing polar


def test_no_held_out_text_reaches_the_training_rows(tmp_path: Path) -> None:
    """Plant an NSMC test review and a chat-set message (respelt) among the extra rows:
    neither may come out, whatever their ratings say."""
    test_text = load_split("test").texts[0]
    chat_text = held_out_chat_texts()[0]
    planted = tmp_path / "nsmc"
    planted.mkdir()
    original = (EXTRA / "reviews_extra.tsv").read_text(encoding="utf-8")
    (planted / "reviews_extra.tsv").write_text(
        original + f"99999998\t1\t  {test_text}  \n99999999\t10\t{chat_text.replace(' ', '  ')}\n",
        encoding="utf-8",
    )
    held_out = load_split("test").texts + held_out_chat_texts()
    rows = extra_rows(WITH_CHAT, planted, EXTRA / "chat", held_out)
    keys = {text_key(text) for text in rows.texts}
    assert keys.isdisjoint(text_key(text) for text in held_out)
    assert len(keys) == len(rows)  # no duplicates either
    assert rows.counts()["kote"]["0"] > 0 and rows.counts()["kote"]["1"] > 0


def test_chatbot_data_break_up_messages_are_negatives_and_nothing_else_is_taken() -> None:
    import csv

    path = EXTRA / "chat" / CHATBOT_FILE
    with path.open(encoding="utf-8", newline="") as handle:
        filed = [(row["Q"], row["label"].strip()) for row in csv.DictReader(handle)]
    rows = read_breakup_chat(path)
    assert set(rows.labels) == {0}
    assert rows.texts == [text for text, topic in filed if topic == "1"]  # in file order
    assert len(rows) == 40  # daily life and love stay out


def test_a_held_out_chat_message_filed_under_break_up_is_never_trained_on(
    tmp_path: Path,
) -> None:
    """chat_dev.txt is a sample of Chatbot_data: its messages are in the file the break-up
    rows come from, and must not come out of it."""
    dev_text = next(t for t in held_out_chat_texts() if "," not in t and '"' not in t)
    planted = tmp_path / "chat"
    (planted / "chatbot_data").mkdir(parents=True)
    original = (EXTRA / "chat" / CHATBOT_FILE).read_text(encoding="utf-8")
    (planted / CHATBOT_FILE).write_text(original + f"{dev_text},위로해 드립니다.,1\n", "utf-8")
    assert dev_text in read_breakup_chat(planted / CHATBOT_FILE).texts
    mix = DataMix("breakup only", breakup_chat=True)
    rows = extra_rows(mix, None, planted, held_out_chat_texts())
    assert rows.counts() == {"breakup": {"0": 40, "1": 0}}
    assert text_key(dev_text) not in {text_key(text) for text in rows.texts}


def test_a_named_mix_without_its_data_is_an_error_the_default_degrades(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="CHAT_DATA_DIR"):
        extra_rows(WITH_CHAT, EXTRA, None, [])
    with pytest.raises(DataError, match=r"ChatbotData\.csv"):
        extra_rows(DataMix("break-up", breakup_chat=True), None, tmp_path, [])
    rows = extra_rows(WITH_CHAT, EXTRA, None, [], required=False)
    assert set(rows.counts()) == {"reviews"}
    assert set(extra_rows(WITH_WRITTEN_CHAT, None, None, [], required=False).counts()) == {
        "written"
    }  # the project's own chat messages need nothing beside the repository
    assert len(extra_rows(NSMC_ONLY, None, None, [])) == 0


def test_the_written_chat_is_balanced_repeated_and_never_held_out() -> None:
    written = read_written_chat(WRITTEN_CHAT)
    assert len(written) >= 2000 and written.labels.count(0) == written.labels.count(1)
    held_out = load_split("test").texts + held_out_chat_texts()
    assert {text_key(t) for t in written.texts}.isdisjoint(text_key(t) for t in held_out)
    rows = extra_rows(WITH_WRITTEN_CHAT, None, None, [], required=False)
    assert rows.counts()["written"]["1"] == written.labels.count(1) * 3


def test_share_keeps_an_even_slice() -> None:
    rows = read_extra_reviews(EXTRA / "reviews_extra.tsv", WITH_REVIEWS)
    half = rows.share(0.5)
    assert len(half) == 150 and half.labels.count(0) == 75


@pytest.mark.slow
def test_training_records_the_data_it_saw(tmp_path: Path) -> None:
    """`python -m training.train --data ...` adds the mix's rows and says so in the version."""
    env = {
        **os.environ,
        "NSMC_DIR": str(Path(load_split("train").source).parent),
        "CHAT_DATA_DIR": str(EXTRA / "chat"),
    }
    nsmc = tmp_path / "nsmc"
    nsmc.mkdir()
    for name in ("ratings_train.txt", "ratings_test.txt"):
        (nsmc / name).symlink_to(Path(env["NSMC_DIR"]) / name)
    (nsmc / "reviews_extra.tsv").symlink_to(EXTRA / "reviews_extra.tsv")
    env["NSMC_DIR"] = str(nsmc)
    out = tmp_path / "registry"
    command = [
        sys.executable,
        "-m",
        "training.train",
        "--config",
        "ngram",
        "--out",
        str(out),
        "--data",
        WITH_CHAT.name,
        "--limit",
        "3000",
        "--test-limit",
        "300",
    ]
    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    (version,) = list((out / "versions").iterdir())
    data = json.loads((version / "metrics.json").read_text())["data"]
    assert data["mix"] == WITH_CHAT.name and set(data["rows"]) == {"reviews", "kote"}
    assert set(MIXES) >= {NSMC_ONLY.name, WITH_REVIEWS.name, WITH_CHAT.name}


def test_a_full_retrain_learns_from_the_same_extra_data_in_proportion() -> None:
    """A full retrain on a slice of NSMC takes the same slice of `make train`'s extra rows,
    so it does not forget the chat it learnt (training.retrain)."""
    from training.retrain import recipe_data

    train = load_split("train")
    everything = recipe_data(train, train)
    assert (
        everything.counts()["written"]["1"] == read_written_chat(WRITTEN_CHAT).labels.count(1) * 3
    )
    tenth = recipe_data(train.head(len(train) // 10), train)
    assert abs(len(tenth) - len(everything) / 10) <= 1


def test_the_student_plan_distils_on_reviews_of_every_rating_never_a_held_out_one(
    tmp_path: Path,
) -> None:
    from training.distill import DISTILL_PLANS, STUDENT_PLAN, DistillPlan, unlabelled_texts

    test_text = load_split("test").texts[0]
    planted = tmp_path / "nsmc"
    planted.mkdir()
    original = (EXTRA / "reviews_extra.tsv").read_text(encoding="utf-8")
    (planted / "reviews_extra.tsv").write_text(
        original + f"99999998\t7\t{test_text}\n", encoding="utf-8"
    )
    ratings = {}
    for line in original.splitlines()[1:]:
        _, rating, text = line.split("\t")
        ratings[text] = int(rating)
    held_out = load_split("test").texts
    plan = DistillPlan("all", any_reviews=10_000)
    texts = unlabelled_texts(plan, planted, None, held_out)
    assert {ratings[text] for text in texts} == set(ratings.values())  # 1-10, not only 5-8
    assert text_key(test_text) not in {text_key(text) for text in texts}
    assert unlabelled_texts(plan, planted, None, held_out) == texts  # the same on every run
    assert STUDENT_PLAN.any_reviews and STUDENT_PLAN.chat_utterances
    assert DISTILL_PLANS["student-lstm"] is STUDENT_PLAN
    student = DISTILL_PLANS["student"]  # the same plan with chat-like variants added
    assert student.variants and replace(student, name=STUDENT_PLAN.name, variants=0) == STUDENT_PLAN


def test_every_student_configuration_distils_by_default() -> None:
    """A student trained with `--teacher` and no `--distill` learns from the teacher
    (`make train-student`); a configuration missing from DISTILL_PLANS would be refused."""
    from nlp.model_config import CONFIGS
    from training.distill import DISTILL_PLANS, NO_DISTILLATION

    students = [name for name in CONFIGS if name.startswith("student")]
    assert "student-pieces-deep" in students
    assert all(DISTILL_PLANS.get(name, NO_DISTILLATION).any_reviews for name in students)


def test_chat_copies_repeat_every_chat_like_row_and_no_review() -> None:
    """`DistillPlan.chat_copies`: a labelled row from a chat source and a distilled chat
    utterance are seen that many times; reviews, labelled or distilled, once."""
    from training.corpora import LabelledRows, chatbot_messages
    from training.distill import STUDENT_CHAT_PLAN, chat_text_keys, with_copies

    utterance = chatbot_messages(EXTRA / "chat" / CHATBOT_FILE)[0]
    extra = LabelledRows(
        ["정말 재밌는 영화", "오늘 기분 최고", "헤어졌어"],
        [1, 1, 0],
        ["reviews", "kote", "breakup"],
    )
    keys = chat_text_keys(extra, EXTRA / "chat", STUDENT_CHAT_PLAN)
    assert text_key(utterance) in keys and "정말 재밌는 영화" not in keys
    assert chat_text_keys(extra, None, STUDENT_CHAT_PLAN) == {"오늘 기분 최고", "헤어졌어"}
    texts = [*extra.texts, "지루한 리뷰", f" {utterance} "]  # as distillation appends them
    labels = [1.0, 1.0, 0.0, 0.3, 0.8]
    copied_texts, copied_labels = with_copies(texts, labels, keys, STUDENT_CHAT_PLAN.chat_copies)
    counts = {text: copied_texts.count(text) for text in texts}
    assert counts == {
        "정말 재밌는 영화": 1,
        "오늘 기분 최고": 4,
        "헤어졌어": 4,
        "지루한 리뷰": 1,
        f" {utterance} ": 4,
    }
    assert dict(zip(copied_texts, copied_labels, strict=True)) == dict(zip(texts, labels))
    assert with_copies(texts, labels, keys, 1) == (texts, labels)


def test_more_chat_distils_the_replies_and_the_comments_no_vote_decides() -> None:
    """`DistillPlan.more_chat`: Chatbot_data's replies and the KOTE comments left unlabelled
    join the distillation text, each seen `chat_copies` times; a labelled comment stays a
    labelled row and a held-out text is never added."""
    from training.corpora import LabelledRows, chatbot_messages, kote_texts, read_kote
    from training.distill import (
        STUDENT_CHAT_PLAN,
        STUDENT_MORE_CHAT_PLAN,
        chat_text_keys,
        unlabelled_texts,
    )

    chat = EXTRA / "chat"
    decided = read_kote(chat, WITH_CHAT)
    replies = chatbot_messages(chat / CHATBOT_FILE, column="A")
    held_out = [replies[0]]
    plain = unlabelled_texts(STUDENT_CHAT_PLAN, None, chat, held_out + decided.texts)
    more = unlabelled_texts(STUDENT_MORE_CHAT_PLAN, None, chat, held_out + decided.texts)
    added = {text_key(text) for text in more} - {text_key(text) for text in plain}
    undecided = {text_key(t) for t in kote_texts(chat)} - {text_key(t) for t in decided.texts}
    assert undecided and undecided <= added
    assert {text_key(text) for text in replies[1:]} <= added | {text_key(t) for t in plain}
    assert text_key(replies[0]) not in added
    assert not added & {text_key(text) for text in decided.texts}
    keys = chat_text_keys(LabelledRows([], [], []), chat, STUDENT_MORE_CHAT_PLAN)
    assert added <= keys and STUDENT_MORE_CHAT_PLAN.chat_copies == 4


def test_the_variants_plan_with_more_chat_differs_from_the_student_plan_by_its_chat_alone() -> None:
    """`--distill student+variants+morechat` (the annealed epochs that closed the chat gap)
    is the student's own plan plus the chat: a change to the one reaches the other."""
    from training.distill import PLANS, STUDENT_VARIANTS_MORE_CHAT_PLAN, STUDENT_VARIANTS_PLAN

    plan = PLANS["student+variants+morechat"]
    assert plan is STUDENT_VARIANTS_MORE_CHAT_PLAN and plan.more_chat and plan.chat_copies == 4
    assert replace(plan, name="student+variants", chat_copies=1, more_chat=False) == (
        STUDENT_VARIANTS_PLAN
    )
