"""The message catalogue: every text the bot sends, one TOML file per language.

`bot/locales/<code>.toml` holds the texts of one language under dotted keys
(`[verdict] right = "…"` is `verdict.right`); adding a language is adding a file. Texts are
`str.format` templates. Korean particles are chosen by the word they follow, through a
format spec on the field: `{label:ro}` writes 긍정으로 and 사과로, `{name:i}` 이/가,
`{name:eun}` 은/는, `{name:eul}` 을/를. Every value given as a string takes those specs;
the English file simply writes `{label}`.
"""

from __future__ import annotations

import functools
import string
import tomllib
from collections.abc import Iterator, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "ko"  # groups and users without a Telegram language
FALLBACK_LANGUAGE = "en"  # users whose Telegram language has no file

# The particle after a final consonant, after a vowel; 으로/로 also takes 로 after ㄹ.
_PARTICLES = {"ro": ("으로", "로"), "i": ("이", "가"), "eun": ("은", "는"), "eul": ("을", "를")}
_RIEUL = 8  # the final-consonant index of ㄹ in a precomposed syllable


def with_particle(word: str, particle: str) -> str:
    """`word` and the form of `particle` its last syllable takes (긍정으로, 부정으로, 사과로,
    서울로); a word that does not end in Hangul gets both forms, as Korean writers do."""
    consonant_form, vowel_form = _PARTICLES[particle]
    last = word[-1] if word else ""
    if not "가" <= last <= "힣":
        return f"{word}(으)로" if particle == "ro" else f"{word}{consonant_form}({vowel_form})"
    final = (ord(last) - ord("가")) % 28
    takes_vowel_form = final == 0 or (particle == "ro" and final == _RIEUL)
    return word + (vowel_form if takes_vowel_form else consonant_form)


class Word(str):
    """A string that knows Korean particles as format specs (`{label:ro}`)."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec in _PARTICLES:
            return with_particle(str(self), spec)
        return format(str(self), spec)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", str(value)


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """The texts of one language; a language without a file has none (KeyError)."""
    path = LOCALES_DIR / f"{lang}.toml"
    if not path.is_file():
        raise KeyError(f"no message catalogue for language {lang!r}")
    with path.open("rb") as file:
        return dict(_flatten(tomllib.load(file)))


@functools.cache
def languages() -> tuple[str, ...]:
    """The languages the bot speaks: one per catalogue file, Korean first."""
    codes = sorted(path.stem for path in LOCALES_DIR.glob("*.toml"))
    return tuple(sorted(codes, key=lambda code: code != DEFAULT_LANGUAGE))


def language_of(language_code: str | None) -> str:
    """The catalogue for a Telegram `language_code` ("en-GB" -> en); no code means the
    default (Korean), a code without a catalogue the fallback (English)."""
    if not language_code:
        return DEFAULT_LANGUAGE
    base = language_code.lower().replace("_", "-").split("-")[0]
    return base if base in languages() else FALLBACK_LANGUAGE


def text(key: str, lang: str, **values: object) -> str:
    """The text `key` in `lang`, its fields filled in."""
    template = catalogue(lang)[key]
    words = {name: Word(v) if isinstance(v, str) else v for name, v in values.items()}
    return template.format(**words)


def fields(template: str) -> set[str]:
    """The field names a template uses (for checking that translations agree)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def zone_label(zone: tzinfo | None, at: datetime | None = None) -> str:
    """ "KST", "CET": the abbreviation people read; the IANA name where a zone has none
    (tzdata writes those as "+04")."""
    abbreviation = (at or datetime.now(zone)).tzname() or ""
    return abbreviation if abbreviation.isalpha() else str(getattr(zone, "key", abbreviation))


def local_time(at: float, zone: tzinfo) -> str:
    moment = datetime.fromtimestamp(at, zone)
    return f"{moment:%H:%M} {zone_label(zone, moment)}"


def local_date_time(at: float, zone: tzinfo) -> str:
    """A date and time in ``zone``, labelled with it: 2026-12-04 15:00 KST."""
    moment = datetime.fromtimestamp(at, zone)
    return f"{moment:%Y-%m-%d %H:%M} {zone_label(zone, moment)}"
