import pytest

from nlp.tokenizers import KiwiTokenizer, SeedTokenizer, make_tokenizer


def test_kiwi_tokens_remember_their_word():
    tokens = KiwiTokenizer().tokenize("재미있을 줄 알았는데 완전 실망했다")
    words = sorted({token.word for token in tokens})
    assert words == [0, 1, 2, 3, 4]
    assert tokens[0].text == "재미있/VA"
    assert [t.text for t in tokens if t.word == 4] == ["실망/NNG", "하/XSV", "었/EP", "다/EF"]


def test_kiwi_morpheme_spanning_two_words_belongs_to_the_later_word():
    # Kiwi reads "커스틴 던스트" as one proper noun; the trace after "커스틴" must not see it.
    tokens = KiwiTokenizer().tokenize("커스틴 던스트가 이뻐보였다")
    spanning = [t for t in tokens if " " in t.text]
    assert spanning and all(t.word == 1 for t in spanning)


def test_kiwi_batch_equals_one_by_one():
    texts = ["정말 재밌어요", "", "별로였다 ㅠㅠ", "hello"]
    tokenizer = KiwiTokenizer()
    assert tokenizer.tokenize_many(texts) == [tokenizer.tokenize(t) for t in texts]


def test_kiwi_truncates_long_input():
    tokens = KiwiTokenizer(max_tokens=80).tokenize("좋아요 " * 500)
    assert len(tokens) == 80


def test_settings_rebuild_the_same_tokenizer():
    for tokenizer in (SeedTokenizer(), KiwiTokenizer(max_tokens=40, with_tags=False)):
        rebuilt = make_tokenizer(tokenizer.settings())
        assert rebuilt.settings() == tokenizer.settings()
        assert rebuilt.tokenize("영화가 최고였다") == tokenizer.tokenize("영화가 최고였다")


def test_mecab_tokens_remember_their_word():
    from nlp.tokenizers import MecabTokenizer

    tokenizer = MecabTokenizer()
    tokens = tokenizer.tokenize("재미있을 줄 알았는데 완전 실망했다")
    assert tokens[0].text == "재미있/VA"
    assert sorted({t.word for t in tokens}) == [0, 1, 2, 3, 4]
    assert tokenizer.tokenize_many(["좋다", ""]) == [tokenizer.tokenize("좋다"), []]
    assert make_tokenizer(tokenizer.settings()).settings() == tokenizer.settings()


def test_mecab_fast_path_equals_the_public_parse(nsmc_dir):
    """The tokeniser reads MeCab's lattice directly; it must give what MeCab.parse gives."""
    import mecab

    from nlp.tokenizers import MecabTokenizer
    from training.data import read_corpus

    texts = read_corpus(nsmc_dir / "ratings_test.txt").texts[:2000]
    texts += ["", "   ", "🙂🙂", "hello world", "재밌다\t\n최고", "ㅋㅋㅋㅋ 개꿀잼!!"]
    public = mecab.MeCab()
    for text in texts:
        expected = [f"{m.surface}/{m.feature.pos}" for m in public.parse(text)][:80]
        assert [t.text for t in MecabTokenizer().tokenize(text)] == expected


def test_old_kiwi_models_keep_the_multi_word_dictionary():
    """Versions saved before `multi_dict` existed were trained with it, so they keep it."""
    old = make_tokenizer({"name": "kiwi", "max_tokens": 80, "with_tags": True})
    assert old.settings()["multi_dict"] is True
    assert next(t.text for t in old.tokenize("커스틴 던스트가 이뻐보였다")) == "커스틴 던스트/NNP"
    new = KiwiTokenizer(multi_dict=False)
    assert next(t.text for t in new.tokenize("커스틴 던스트가 이뻐보였다")) != "커스틴 던스트/NNP"


def test_syllable_tokens_are_the_characters_of_each_word():
    from nlp.tokenizers import SyllableTokenizer

    tokenizer = SyllableTokenizer(max_tokens=6)
    tokens = tokenizer.tokenize("꿀잼 ㅋㅋ OK!")
    assert [(t.text, t.word) for t in tokens] == [
        ("꿀", 0),
        ("잼", 0),
        ("ㅋ", 1),
        ("ㅋ", 1),
        ("o", 2),
        ("k", 2),
    ]
    assert make_tokenizer(tokenizer.settings()).settings() == tokenizer.settings()
    assert tokenizer.tokenize_many(["", "좋다"]) == [[], tokenizer.tokenize("좋다")]


def test_syllable_spaces_mark_word_starts_and_belong_to_the_word_they_start():
    from nlp.tokenizers import SyllableTokenizer

    tokenizer = SyllableTokenizer(max_tokens=150, spaces=True)
    tokens = tokenizer.tokenize("  꿀잼  ㅋㅋ\tOK! ")
    assert [(t.text, t.word) for t in tokens] == [
        ("꿀", 0),
        ("잼", 0),
        (" ", 1),
        ("ㅋ", 1),
        ("ㅋ", 1),
        (" ", 2),
        ("o", 2),
        ("k", 2),
        ("!", 2),
    ]
    rebuilt = make_tokenizer(tokenizer.settings())
    assert rebuilt.tokenize("꿀잼 ㅋㅋ") == tokenizer.tokenize("꿀잼 ㅋㅋ")
    assert SyllableTokenizer().settings() == {"name": "syllable", "max_tokens": 150}


def test_syllable_marks_write_each_word_start_as_its_own_token():
    """`marks` says where words begin without a step of its own: the first character of
    every word (the first word's too) is ``▁x``, a different token from ``x``."""
    from nlp.tokenizers import SyllableTokenizer

    tokenizer = SyllableTokenizer(max_tokens=150, marks=True)
    tokens = tokenizer.tokenize("  꿀잼  ㅋㅋ\tOK! 잼")
    assert [(t.text, t.word) for t in tokens] == [
        ("▁꿀", 0),
        ("잼", 0),
        ("▁ㅋ", 1),
        ("ㅋ", 1),
        ("▁o", 2),
        ("k", 2),
        ("!", 2),
        ("▁잼", 3),
    ]
    assert tokenizer.settings() == {"name": "syllable", "max_tokens": 150, "marks": True}
    rebuilt = make_tokenizer(tokenizer.settings())
    assert rebuilt.tokenize("꿀잼 ㅋㅋ") == tokenizer.tokenize("꿀잼 ㅋㅋ")
    with pytest.raises(ValueError, match="not both"):
        SyllableTokenizer(spaces=True, marks=True)


def _syllables_one_by_one(
    text: str, max_tokens: int, spaces: bool, marks: bool = False
) -> list[tuple[str, int]]:
    """The syllable tokeniser as first written, a token at a time: the reference."""
    tokens: list[tuple[str, int]] = []
    for index, word in enumerate(text.lower().split()):
        if spaces and index:
            tokens.append((" ", index))
        tokens.extend(
            ("▁" + char if marks and not offset else char, index)
            for offset, char in enumerate(word)
        )
    return tokens[:max_tokens]


EDGE_TEXTS = ["", "   ", "🙂🙂", "hello World", "재밌다\t\n최고", "ㅋㅋ 개꿀잼!!", "좋아 " * 99]


def test_syllable_columns_equal_the_token_at_a_time_reference(nsmc_dir):
    """Batches read a message's syllables as one string and a repeat of word indexes."""
    from nlp.tokenizers import SyllableTokenizer
    from training.data import read_corpus

    texts = read_corpus(nsmc_dir / "ratings_test.txt").texts[:2000] + EDGE_TEXTS
    for max_tokens, spaces, marks in (
        (150, False, False),
        (150, True, False),
        (7, True, False),
        (150, False, True),
        (7, False, True),
    ):
        tokenizer = SyllableTokenizer(max_tokens=max_tokens, spaces=spaces, marks=marks)
        for text, columns in zip(texts, tokenizer.columns_many(texts), strict=True):
            expected = _syllables_one_by_one(text, max_tokens, spaces, marks)
            assert list(zip(columns.texts, columns.words.tolist())) == expected


def test_every_tokenizer_gives_the_same_tokens_in_columns(nsmc_dir):
    """What a batch reads (`columns_many`, Kiwi's worker threads) is what one message
    reads (`tokenize`)."""
    from nlp.tokenizers import MecabTokenizer, PieceTokenizer, SyllableTokenizer
    from training.data import read_corpus

    texts = read_corpus(nsmc_dir / "ratings_test.txt").texts[:300] + EDGE_TEXTS
    tokenizers = (
        SeedTokenizer(),
        KiwiTokenizer(multi_dict=False),
        MecabTokenizer(),
        SyllableTokenizer(spaces=True),
        SyllableTokenizer(marks=True),
        PieceTokenizer(["▁영화", "▁재미", "있", "었", "▁ㅋㅋ", "ㅋ", "▁좋", "아"], max_tokens=40),
    )
    for tokenizer in tokenizers:
        columns = tokenizer.columns_many(texts)
        assert [c.tokens() for c in columns] == [tokenizer.tokenize(t) for t in texts]


def test_pieces_are_the_longest_of_the_inventory_and_stay_inside_their_word() -> None:
    """Greedy longest match, left to right; a word's first piece carries ▁ (never ▁ alone),
    a character no piece covers is its own token, and no token reaches into the next word."""
    from nlp.tokenizers import PieceTokenizer

    tokenizer = PieceTokenizer(["▁재미", "▁재미있", "있을", "을", "▁줄", "줄알"], max_piece=3)
    tokens = tokenizer.tokenize("재미있을 줄알았다 😀!")
    assert [(token.text, token.word) for token in tokens] == [
        ("▁재미있", 0),
        ("을", 0),
        ("▁줄", 1),  # 줄알 is a continuation piece only
        ("알", 1),
        ("았", 1),
        ("다", 1),
        ("▁😀", 2),
        ("!", 2),
    ]
    assert tokenizer.split_word("재미있을까") == ["▁재미있", "을", "까"]  # ▁ + 3 characters at most
    cut = tokenizer.tokenize("재미 " * 200)  # at max_tokens
    assert len(cut) == 150 and cut[-1].word == 149


def test_a_piece_tokenizer_is_rebuilt_from_the_vocabulary_it_was_saved_with() -> None:
    """Only the vocabulary is saved: the same tokens come back from it, and the cache key
    (the settings) changes with the inventory."""
    from nlp.tokenizers import PieceTokenizer, make_tokenizer
    from nlp.vocabulary import Vocabulary

    vocabulary = Vocabulary(("<pad>", "<oov>", "▁좋", "아요", "▁영화"))
    settings = {"name": "pieces", "max_tokens": 150, "max_piece": 6}
    rebuilt = make_tokenizer(settings, vocabulary.learned_tokens)
    assert isinstance(rebuilt, PieceTokenizer) and "<pad>" not in rebuilt.pieces
    assert [t.text for t in rebuilt.tokenize("영화 좋아요")] == ["▁영화", "▁좋", "아요"]
    other = PieceTokenizer(["▁좋", "아요"])
    assert other.settings()["inventory"] != rebuilt.settings()["inventory"]
    with pytest.raises(ValueError, match="vocabulary"):
        make_tokenizer(settings)
