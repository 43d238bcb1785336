"""Chat-like variants for the teacher to label (training.text_variants): each kind has the
form it promises, the same sources give the same variants, and no variant spells a source,
a held-out text or a validation review."""

from __future__ import annotations

from pathlib import Path

from training.corpora import WITH_CHAT, held_out_chat_texts, read_kote, text_key
from training.distill import STUDENT_VARIANTS_PLAN, plan_variants, unlabelled_texts
from training.text_variants import MARKERS, text_variants

EXTRA = Path(__file__).resolve().parent / "data" / "extra"
CHAT = [
    "오늘 점심 진짜 맛있었어",
    "버스 놓쳐서 지각했다",
    "시험 망했어",
    "주말에 영화 보러 갈래?",
    "택배가 또 늦게 온대",
    "드디어 월급날이다",
]
REVIEWS = [
    "처음부터 끝까지 지루해서 중간에 나가고 싶었던 영화 배우들 연기도 어색하고 대사도 유치함",
    "음악이 좋고 영상미가 뛰어나서 극장에서 다시 보고 싶은 영화",
    "별로",
    "기대 안 하고 봤는데 생각보다 재밌었어요 가족끼리 보기 좋아요",
]


def _is_run_of(fragment: str, text: str) -> bool:
    words, part = text.split(), fragment.split()
    return any(words[i : i + len(part)] == part for i in range(len(words) - len(part) + 1))


def _marked(variant: str, source: str) -> bool:
    """``variant`` is ``source`` with one marker added at its end or after one word."""
    words = source.split()
    for marker in MARKERS:
        if variant in (source + marker, f"{source} {marker}"):
            return True
        for i in range(len(words)):
            if " ".join([*words[:i], words[i] + marker, *words[i + 1 :]]) == variant:
                return True
    return False


def test_each_kind_has_its_form_and_none_copies_a_source() -> None:
    variants = text_variants(CHAT, REVIEWS, per_kind=12)
    sources = {text_key(text) for text in CHAT + REVIEWS}
    assert len({text_key(v) for v in variants}) == len(variants) == 36
    assert not {text_key(v) for v in variants} & sources
    marked, joined, fragments = variants[:12], variants[12:24], variants[24:]
    short = [text for text in CHAT + REVIEWS if len(text.split()) <= 10]
    assert all(any(_marked(v, source) for source in short) for v in marked), marked
    pairs = {f"{a} {b}" for a in CHAT for b in CHAT}
    assert set(joined) <= pairs
    assert all(any(_is_run_of(f, review) for review in REVIEWS) for f in fragments)
    assert all(2 <= len(f.split()) <= 10 for f in fragments)


def test_the_same_sources_give_the_same_variants() -> None:
    assert text_variants(CHAT, REVIEWS, 10) == text_variants(CHAT, REVIEWS, 10)
    assert text_variants(CHAT, REVIEWS, 10) != text_variants(CHAT, REVIEWS, 10, seed=1)


def test_small_sources_give_fewer_variants_and_no_source_gives_none() -> None:
    assert text_variants([], [], 5) == []
    only_chat = text_variants(CHAT[:1], [], 50)
    assert 0 < len(only_chat) <= len(MARKERS) * 2 + 1  # one message: markers only
    assert all(_marked(v, CHAT[0]) for v in only_chat)


def test_a_runs_variants_come_from_its_training_texts_and_spell_no_excluded_text() -> None:
    """The plan's sources are the run's distilled texts and labelled chat rows; a chat set's
    message (held out) is never a source, and a variant equal to an excluded text (say a
    validation review) is dropped."""
    chat = EXTRA / "chat"
    held_out = held_out_chat_texts()
    extra = read_kote(chat, WITH_CHAT)
    texts = unlabelled_texts(STUDENT_VARIANTS_PLAN, EXTRA, chat, held_out + extra.texts)
    variants = plan_variants(texts, extra, chat, STUDENT_VARIANTS_PLAN, 30, held_out)
    assert variants and len(variants) <= 90
    held_keys = {text_key(text) for text in held_out}
    assert not {text_key(v) for v in variants} & held_keys
    sources = [text_key(text) for text in [*extra.texts, *texts]]
    keys = set(sources)

    def joined(variant: str) -> bool:
        words = variant.split()
        return any(
            " ".join(words[:cut]) in keys and " ".join(words[cut:]) in keys
            for cut in range(1, len(words))
        )

    assert all(
        joined(v) or any(_is_run_of(v, s) or _marked(v, s) for s in sources) for v in variants
    )
    excluded = variants[:5]
    again = plan_variants(texts, extra, chat, STUDENT_VARIANTS_PLAN, 30, held_out + excluded)
    assert again == variants[5:]
