"""Where training reads and writes, from environment variables with defaults.

The bot composes these into its own settings (bot/config.py), so both sides of the project
agree on one registry and one data directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

UPSTREAM_BASE_URL = "https://raw.githubusercontent.com/e9t/nsmc/master"


@dataclass(frozen=True)
class TrainingPaths:
    registry_dir: Path  # model versions and the CURRENT pointer
    nsmc_dir: Path | None  # ratings_train.txt / ratings_test.txt; None: download upstream
    cache_dir: Path  # downloads and tokenised corpora

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> TrainingPaths:
        env = os.environ if environ is None else environ
        nsmc = env.get("NSMC_DIR")
        default_cache = Path(env.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ko-sentiment"
        return cls(
            registry_dir=Path(env.get("MODEL_REGISTRY", "var/models")),
            nsmc_dir=Path(nsmc) if nsmc else None,
            cache_dir=Path(env.get("SENTIMENT_CACHE_DIR", default_cache)),
        )
