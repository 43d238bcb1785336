"""Where training reads and writes, from environment variables with defaults.

The bot composes these into its own settings (bot/settings.py), so both sides of the project
agree on one registry and one data directory. `VARIABLES` is the list of what is read;
README.md's configuration table is checked against it (tests/test_readme.py).
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

UPSTREAM_BASE_URL = "https://raw.githubusercontent.com/e9t/nsmc/master"


@dataclass(frozen=True)
class Variable:
    """An environment variable a setting is read from, with its default as it would be
    written in the environment ("" when there is none)."""

    name: str
    default: str


# Every variable TrainingPaths.from_env reads, and nothing else.
VARIABLES: tuple[Variable, ...] = (
    Variable("MODEL_REGISTRY", "var/models"),
    Variable("NSMC_DIR", ""),  # none: download from UPSTREAM_BASE_URL into the cache
    Variable("CHAT_DATA_DIR", ""),  # none: a data mix that needs chat text cannot train
    Variable("SENTIMENT_CACHE_DIR", "$XDG_CACHE_HOME/ko-sentiment"),
    Variable("XDG_CACHE_HOME", "~/.cache"),
)
DEFAULTS: dict[str, str] = {variable.name: variable.default for variable in VARIABLES}


@dataclass(frozen=True)
class TrainingPaths:
    registry_dir: Path  # model versions and the CURRENT pointer
    nsmc_dir: Path | None  # ratings_train.txt / ratings_test.txt; None: download upstream
    chat_dir: Path | None  # chat-like text (kote/, chatbot_data/) for training.corpora
    cache_dir: Path  # downloads and tokenised corpora

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingPaths:
        env = os.environ if environ is None else environ
        nsmc = env.get("NSMC_DIR", DEFAULTS["NSMC_DIR"])
        chat = env.get("CHAT_DATA_DIR", DEFAULTS["CHAT_DATA_DIR"])
        cache_home = str(path_setting(env, "XDG_CACHE_HOME", DEFAULTS))
        return cls(
            registry_dir=path_setting(env, "MODEL_REGISTRY", DEFAULTS),
            nsmc_dir=Path(nsmc) if nsmc else None,
            chat_dir=Path(chat) if chat else None,
            cache_dir=path_setting(env, "SENTIMENT_CACHE_DIR", DEFAULTS, XDG_CACHE_HOME=cache_home),
        )


def path_setting(
    env: Mapping[str, str], name: str, defaults: Mapping[str, str], **variables: str
) -> Path:
    """A path variable: its value as given, or its default with `~` and the `$NAME`s in
    `variables` expanded."""
    value = env.get(name)
    if value is not None:
        return Path(value)
    return Path(string.Template(defaults[name]).substitute(variables)).expanduser()
