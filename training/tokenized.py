"""Tokenised corpora, cached on disk: Kiwi needs about a minute for NSMC, training seconds.

The cache key is the data's hash plus the tokeniser settings, so a changed file or setting
never reuses stale tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from nlp.inference import normalize_text
from nlp.tokenizers import Tokenizer

CHUNK = 4096


def tokenize_texts(tokenizer: Tokenizer, texts: Sequence[str], desc: str) -> list[list[str]]:
    result: list[list[str]] = []
    with tqdm(total=len(texts), unit="review", desc=desc, leave=False) as bar:
        for start in range(0, len(texts), CHUNK):
            chunk = [normalize_text(text) for text in texts[start : start + CHUNK]]
            result.extend(
                [token.text for token in tokens] for tokens in tokenizer.tokenize_many(chunk)
            )
            bar.update(len(chunk))
    return result


def cached_tokens(
    tokenizer: Tokenizer, texts: Sequence[str], data_sha256: str, cache_dir: Path, desc: str
) -> list[list[str]]:
    settings = json.dumps(tokenizer.settings(), sort_keys=True)
    key = hashlib.sha256(f"{data_sha256}:{len(texts)}:{settings}".encode()).hexdigest()[:24]
    path = cache_dir / "tokens" / f"{key}.pickle"
    if path.is_file():
        with path.open("rb") as handle:
            tokens: list[list[str]] = pickle.load(handle)
            return tokens
    tokens = tokenize_texts(tokenizer, texts, desc)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as handle:
        pickle.dump(tokens, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    return tokens
