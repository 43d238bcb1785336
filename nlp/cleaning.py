"""The seed notebook's text cleaning, kept byte-for-byte so the `seed` tokeniser is comparable."""

from __future__ import annotations

import re

_STEPS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"[^가-힣A-Za-z0-9(),!?\'\`]", " "),
        (r"\'s", " 's"),
        (r"\'ve", " 've"),
        (r"n\'t", " n't"),
        (r"\'re", " 're"),
        (r"\'d", " 'd"),
        (r"\'ll", " 'll"),
        (r",", " , "),
        (r"!", " ! "),
        (r"\(", r" \( "),
        (r"\)", r" \) "),
        (r"\?", r" \? "),
        (r"\s{2,}", " "),
        (r"\'{2,}", "'"),
        (r"\'", ""),
    )
)


def clean_str(string: str) -> str:
    """Seed notebook section 6.7, exactly (including its literal backslashes before brackets).

    The seed's replacement strings such as ``" \\( "`` keep the backslash, because Python's
    ``re.sub`` leaves unknown escapes of punctuation alone; we keep that quirk so the seed
    configuration sees the very tokens the notebook trained on.
    """
    for pattern, replacement in _STEPS:
        string = pattern.sub(replacement, string)
    return string.lower()
