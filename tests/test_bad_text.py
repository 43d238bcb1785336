"""Whatever people type, the trace is a defined value and never an exception."""

from __future__ import annotations

import pytest

from nlp.inference import REASON_EMPTY


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text(trained_model, text):
    trace = trained_model.trace(text)
    assert trace.is_empty and trace.reason == REASON_EMPTY and trace.positive == 0.5


@pytest.mark.parametrize("text", ["😀😂👍", "hello world", "12345 !!!", "ｈｅｌｌｏ"])
def test_text_without_hangul_is_still_scored(trained_model, text):
    """NSMC has reviews like "good", "so boring" and "-_-": the model scores whatever it
    can tokenise. The bot, not the model, declines non-Korean messages
    (tests/test_service.py)."""
    trace = trained_model.trace(text)
    assert trace.reason is None and trace.words == tuple(text.split())
    assert all(0.0 <= p <= 1.0 for p in trace.probabilities)


def test_longest_telegram_message(trained_model):
    text = ("이 영화 정말 재밌어요 " * 400)[:4096]
    trace = trained_model.trace(text)
    assert trace.words and trace.truncated
    assert len(trace.words) <= trained_model.config.max_tokens
    assert 0.0 <= trace.positive <= 1.0


def test_control_characters_are_spaces(trained_model):
    trace = trained_model.trace("최고의\x00영화\u200b였다\x1b")
    assert trace.reason is None
    assert trace.words == ("최고의", "영화", "였다")


def test_mixed_scripts_and_decomposed_hangul(trained_model):
    import unicodedata

    mixed = trained_model.trace("CGV에서 봤는데 진짜 best 영화 👍")
    assert mixed.words[0] == "CGV에서" and mixed.reason is None
    decomposed = unicodedata.normalize("NFD", "정말 재밌다")
    assert (
        trained_model.trace(decomposed).probabilities
        == trained_model.trace("정말 재밌다").probabilities
    )


def test_batch_with_every_kind_of_bad_text(trained_model):
    texts = ["", "😀", "좋다", "x" * 4096, "ㅋㅋㅋㅋ", "\x00"]
    traces = trained_model.trace_batch(texts)
    assert [t.reason for t in traces] == [REASON_EMPTY, None, None, None, None, REASON_EMPTY]
