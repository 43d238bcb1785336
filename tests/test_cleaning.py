"""The seed configuration must see exactly the tokens the seed notebook trained on."""

from nlp.cleaning import clean_str
from nlp.tokenizers import SeedTokenizer

# The first five reviews of NSMC's training file, as the notebook prints them (6.4).
REVIEWS = [
    "아 더빙.. 진짜 짜증나네요 목소리",
    "흠...포스터보고 초딩영화줄....오버연기조차 가볍지 않구나",
    "너무재밓었다그래서보는것을추천한다",
    "교도소 이야기구먼 ..솔직히 재미는 없다..평점 조정",
    "사이몬페그의 익살스런 연기가 돋보였던 영화!스파이더맨에서 늙어보이기만 했던 커스틴 던스트가 "
    "너무나도 이뻐보였다",
]

# Section 6.7: clean_str, then split on spaces.
CLEANED = [
    ["아", "더빙", "진짜", "짜증나네요", "목소리"],
    ["흠", "포스터보고", "초딩영화줄", "오버연기조차", "가볍지", "않구나"],
    ["너무재밓었다그래서보는것을추천한다"],
    ["교도소", "이야기구먼", "솔직히", "재미는", "없다", "평점", "조정"],
    [
        "사이몬페그의",
        "익살스런",
        "연기가",
        "돋보였던",
        "영화",
        "!",
        "스파이더맨에서",
        "늙어보이기만",
        "했던",
        "커스틴",
        "던스트가",
        "너무나도",
        "이뻐보였다",
    ],
]

# Section 6.9: each word cut to 5 characters, at most 25 words.
CUT = [
    ["아", "더빙", "진짜", "짜증나네요", "목소리"],
    ["흠", "포스터보고", "초딩영화줄", "오버연기조", "가볍지", "않구나"],
    ["너무재밓었"],
    ["교도소", "이야기구먼", "솔직히", "재미는", "없다", "평점", "조정"],
    [
        "사이몬페그",
        "익살스런",
        "연기가",
        "돋보였던",
        "영화",
        "!",
        "스파이더맨",
        "늙어보이기",
        "했던",
        "커스틴",
        "던스트가",
        "너무나도",
        "이뻐보였다",
    ],
]


def test_clean_str_reproduces_section_6_7():
    assert [clean_str(review).split(" ") for review in REVIEWS] == CLEANED


def test_seed_tokenizer_reproduces_section_6_9():
    tokenizer = SeedTokenizer()
    assert [[t.text for t in tokenizer.tokenize(review)] for review in REVIEWS] == CUT


def test_seed_quirks_are_kept():
    # The seed's replacement strings keep a backslash before brackets and question marks.
    assert clean_str("It's (good)?") == "it s \\( good \\) \\? "


def test_seed_tokenizer_keeps_25_tokens_and_word_origin():
    tokens = SeedTokenizer().tokenize(" ".join(f"단어{i}" for i in range(40)))
    assert len(tokens) == 25
    assert [t.word for t in tokens] == list(range(25))
    assert SeedTokenizer().tokenize("영화!최고") == [
        type(tokens[0])("영화", 0),
        type(tokens[0])("!", 0),
        type(tokens[0])("최고", 0),
    ]
