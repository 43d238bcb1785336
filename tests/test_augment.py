"""Spacing noise (training.augment): each epoch's copy of a text is a respacing of it that
the tokeniser could have produced, with the same syllables in the same order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nlp.model_config import STUDENT, STUDENT_LSTM, SYLLABLE
from nlp.tokenizers import SyllableTokenizer
from nlp.vocabulary import PAD_ID, Vocabulary
from training.augment import SpacingNoise, spacing_noise_for
from training.batches import ROUND_TO, BucketedBatches

TEXTS = [
    "이 영화 진짜 재밌어요 최고",
    "오늘 점심 뭐 먹지",
    "별로였어요 시간 아까움 ㅠㅠ",
    "좋아",
    "배우 연기가 정말 좋았어요 ㅋㅋ 강추 합니다 다들 보세요",
]
TOKENIZER = SyllableTokenizer(150, spaces=True)


def _token_lists(texts: list[str]) -> list[list[str]]:
    return [[token.text for token in TOKENIZER.tokenize(text)] for text in texts]


VOCABULARY = Vocabulary.build(_token_lists(TEXTS), 1_000, min_count=1)
SPACE = VOCABULARY.index[" "]


def _matrix(texts: list[str]) -> np.ndarray:
    ids = [VOCABULARY.encode(tokens) for tokens in _token_lists(texts)]
    matrix = np.zeros((len(ids), max(map(len, ids)) + 3), dtype=np.int32)  # extra padding
    for row, row_ids in enumerate(ids):
        matrix[row, : len(row_ids)] = row_ids
    return matrix


def _rows(matrix: np.ndarray) -> list[list[int]]:
    return [[int(i) for i in row if i != PAD_ID] for row in matrix]


def test_a_copy_keeps_the_syllables_in_order_and_spaces_only_between_them() -> None:
    noise = SpacingNoise(SPACE, 0.5, 150, np.random.default_rng(1))
    original = _matrix(TEXTS)
    for _ in range(50):
        copy = noise(original)
        for before, after, padded in zip(_rows(original), _rows(copy), copy, strict=True):
            assert [i for i in after if i != SPACE] == [i for i in before if i != SPACE]
            assert after[0] != SPACE and after[-1] != SPACE
            assert all(not (a == b == SPACE) for a, b in itertools.pairwise(after))
            assert not padded[len(after) :].any()  # padding only after the text


def test_spaces_are_dropped_and_inserted_about_as_many_as_there_were() -> None:
    noise = SpacingNoise(SPACE, 0.15, 150, np.random.default_rng(2))
    original = _matrix(TEXTS * 40)
    spaces_before = int((original == SPACE).sum())
    copies = [noise(original) for _ in range(20)]
    changed = sum(_rows(copy) != _rows(original) for copy in copies)
    spaces_after = np.mean([(copy == SPACE).sum() for copy in copies])
    assert changed == len(copies)
    assert 0.8 * spaces_before < spaces_after < 1.2 * spaces_before
    inserted_inside_words = any(
        len([i for i in row if i == SPACE]) > len([i for i in base if i == SPACE])
        for copy in copies
        for row, base in zip(_rows(copy), _rows(original), strict=True)
    )
    assert inserted_inside_words


def test_a_copy_is_cut_where_the_tokeniser_cuts() -> None:
    noise = SpacingNoise(SPACE, 1.0, 12, np.random.default_rng(3))
    copy = noise(_matrix(TEXTS))
    assert copy.shape[1] <= 12
    assert all(len(row) <= 12 for row in _rows(copy))


def test_noise_needs_a_tokeniser_that_writes_spaces() -> None:
    assert spacing_noise_for(SYLLABLE, None, 0) is None
    with pytest.raises(ValueError, match="spaces"):
        spacing_noise_for(SYLLABLE.with_overrides(spacing_noise=0.1), None, 0)
    made = spacing_noise_for(STUDENT_LSTM.with_overrides(spacing_noise=0.1), SPACE, 0)
    assert made is not None and made.max_tokens == STUDENT_LSTM.max_tokens == 150
    with pytest.raises(ValueError, match="spaces"):  # marked word starts are no space tokens
        spacing_noise_for(STUDENT.with_overrides(spacing_noise=0.1), None, 0)


@pytest.mark.slow
def test_a_network_trains_with_spacing_noise(tmp_path) -> None:
    """The option end to end: a small student with space tokens trains on noisy copies
    and is published like any version, its noise rate recorded with its recipe."""
    from nlp.ensemble import load_model
    from nlp.inference import SentimentModel
    from training.data import load_split
    from training.registry import Registry
    from training.train import TrainingRequest, run_training

    config = STUDENT_LSTM.with_overrides(units=16, embedding_dim=16, spacing_noise=0.15)
    request = TrainingRequest(
        config,
        load_split("train").head(2_000),
        load_split("test").head(200),
        epochs=1,
        progress=False,
    )
    result = run_training(request, Registry(tmp_path))
    model = load_model(result.path)
    assert isinstance(model, SentimentModel)
    assert model.config.spacing_noise == 0.15 and model.config.tokenizer == config.tokenizer
    assert model.trace("정말 재밌어요").words == ("정말", "재밌어요")


def test_bucketed_batches_respace_every_pass_and_keep_labels_aligned() -> None:
    ids = [VOCABULARY.encode(tokens) for tokens in _token_lists(TEXTS * 10)]
    labels = np.arange(len(ids), dtype=np.float32)
    noise = SpacingNoise(SPACE, 0.5, 150, np.random.default_rng(4))
    batches = BucketedBatches(ids, labels, 8, seed=0, augment=noise)
    seen = set()
    for index in range(len(batches)):
        matrix, batch_labels = batches[index]
        assert matrix.shape[1] % ROUND_TO == 0
        for row, label in zip(_rows(matrix), batch_labels, strict=True):
            source = ids[int(label)]
            assert [i for i in row if i != SPACE] == [i for i in source if i != SPACE]
            seen.add(row != source)
    assert seen == {True, False}  # some copies respaced, some left as written
