"""All bot settings in one typed place, read from environment variables with defaults.

| variable | default | meaning |
|---|---|---|
| TELEGRAM_TOKEN | (none) | bot token; without it `make run` starts the terminal chat |
| ADMIN_IDS | (none) | comma-separated Telegram user ids allowed to use admin commands |
| DATABASE_URL | (none) | `postgresql://user:password@host:5432/dbname` to keep everything in PostgreSQL; unset: the SQLite file below |
| DATABASE_PATH | var/bot.sqlite3 | the SQLite file (when DATABASE_URL is not set) |
| MODEL_REGISTRY | var/models | model versions and the CURRENT pointer |
| TELEGRAM_BASE_URL | https://api.telegram.org/bot | Bot API endpoint (local server, tests) |
| TELEGRAM_BASE_FILE_URL | https://api.telegram.org/file/bot | file endpoint |
| WEBHOOK_URL | (none) | public HTTPS URL; when set the bot uses a webhook instead of polling |
| WEBHOOK_LISTEN / WEBHOOK_PORT / WEBHOOK_SECRET | 0.0.0.0 / 8443 / (none) | webhook server |
| RETRAIN_CRON | 0 3 * * * | the nightly retrain (crontab syntax, UTC); "off" disables |
| RETRAIN_MODE | finetune | the nightly run: a focused finetune, or full (from scratch, ~15 min) |
| RETRAIN_AFTER_CORRECTIONS | 20 | a focused retrain starts once this many corrections wait (0: never) |
| RETRAIN_INTERVAL_MINUTES | 60 | and at this interval if any correction waits (0: never) |
| RETRAIN_AGREEMENT / RETRAIN_CONFIDENT_AGREEMENT | 2 / 3 | users who must agree before a correction counts for everyone (more against a verdict held with RETRAIN_CONFIDENT = 0.95) |
| RETRAIN_MIN_USERS / RETRAIN_MAX_USER_SHARE | 5 / 0.1 | unconfirmed corrections count only in a batch of this many users, each user up to this share |
| RETRAIN_MAX_PER_USER | 50 | a user's newest corrections per run |
| RETRAIN_STEPS / RETRAIN_REPLAY_ROWS | 120 / 4000 | focused fine-tuning: optimiser steps, NSMC reviews replayed |
| RETRAIN_LIMIT | all | NSMC training rows a full retrain reads |
| GATE_NSMC_ROWS / GATE_MAX_NSMC_DROP | 10000 / 0.003 | the gate's NSMC reviews and the largest drop allowed (one-sided 80% paired bound) |
| GATE_MIN_LEARNED | 0.9 | share of its corrections a candidate must answer as corrected |
| RETRAIN_TIMEOUT_MINUTES | 360 | a retrain running longer is killed |
| RETENTION_DAYS | 90 | verdicts (with their texts), group scores, and corrections a model has learned are deleted this many days after (checked every 6 hours) |
| RATE_LIMIT_PER_MINUTE | 20 | messages a user may send per minute, in private chats and groups (0: no limit) |
| MOOD_WINDOW | 20 | messages in the rolling mood that drives alerts |
| DEMO_CACHE_DIR | var/demos | cached /rnn /lstm /gru results |
| POLL_TIMEOUT | 30 | long-polling timeout in seconds |
| POLL_INTERVAL | 0.01 | pause between polls, so updates arriving together come in one getUpdates |
| DB_BUSY_TIMEOUT | 5 | seconds to wait for a locked database before answering "busy" |
| MODEL_POLL_SECONDS | 30 | how often the bot checks the database for a model version another process (a replica) made current (0: never) |
| OUTGOING_PER_SECOND | 30 | outgoing messages per second (Telegram's limit) |
| HTTP_CONNECTIONS | 16 | pooled connections to the Bot API (more cost CPU on every request) |
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.storage.location import parse_location
from training.config import TrainingPaths
from training.recipe import FocusRules, GateRules, RecipeError, RetrainRecipe, TrustRules


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    token: str | None
    admin_ids: frozenset[int]
    database_path: Path
    database_url: str | None  # a postgresql:// URL; None: the SQLite file at database_path
    paths: TrainingPaths
    base_url: str
    base_file_url: str
    webhook_url: str | None
    webhook_listen: str
    webhook_port: int
    webhook_secret: str | None
    retrain_cron: str | None
    retrain: RetrainRecipe  # the scheduled and /retrain runs (mode: the nightly one)
    retrain_after_corrections: int
    retrain_interval_minutes: float
    retrain_timeout: float
    retention_days: float
    rate_limit_per_minute: int
    mood_window: int
    demo_cache_dir: Path
    poll_timeout: int
    poll_interval: float
    outgoing_per_second: float
    http_connections: int
    db_busy_timeout: float
    model_poll_seconds: float
    python: str = sys.executable

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        cron = env.get("RETRAIN_CRON", "0 3 * * *").strip()
        return cls(
            token=env.get("TELEGRAM_TOKEN") or None,
            admin_ids=_ids(env.get("ADMIN_IDS", "")),
            database_path=Path(env.get("DATABASE_PATH", "var/bot.sqlite3")),
            database_url=_database_url(env),
            paths=TrainingPaths.from_env(env),
            base_url=env.get("TELEGRAM_BASE_URL", "https://api.telegram.org/bot"),
            base_file_url=env.get("TELEGRAM_BASE_FILE_URL", "https://api.telegram.org/file/bot"),
            webhook_url=env.get("WEBHOOK_URL") or None,
            webhook_listen=env.get("WEBHOOK_LISTEN", "0.0.0.0"),
            webhook_port=_int(env, "WEBHOOK_PORT", 8443, minimum=1, maximum=65535),
            webhook_secret=env.get("WEBHOOK_SECRET") or None,
            retrain_cron=None if cron.lower() in ("", "off", "none") else cron,
            retrain=_recipe(env),
            retrain_after_corrections=_int(env, "RETRAIN_AFTER_CORRECTIONS", 20, minimum=0),
            retrain_interval_minutes=_float(env, "RETRAIN_INTERVAL_MINUTES", 60.0, minimum=0),
            retrain_timeout=_float(env, "RETRAIN_TIMEOUT_MINUTES", 360.0, minimum=1) * 60,
            retention_days=_float(env, "RETENTION_DAYS", 90.0, minimum=1),
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 20, minimum=0),
            mood_window=_int(env, "MOOD_WINDOW", 20, minimum=1),
            demo_cache_dir=Path(env.get("DEMO_CACHE_DIR", "var/demos")),
            poll_timeout=_int(env, "POLL_TIMEOUT", 30, minimum=0),
            poll_interval=_float(env, "POLL_INTERVAL", 0.01, minimum=0),
            outgoing_per_second=_float(env, "OUTGOING_PER_SECOND", 30.0, minimum=0.01),
            http_connections=_int(env, "HTTP_CONNECTIONS", 16, minimum=1),
            db_busy_timeout=_float(env, "DB_BUSY_TIMEOUT", 5.0, minimum=0),
            model_poll_seconds=_float(env, "MODEL_POLL_SECONDS", 30.0, minimum=0),
        )

    @property
    def database(self) -> str | Path:
        """What `Storage.open` takes: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def database_label(self) -> str:
        """The database for logs and messages, without a password."""
        return str(parse_location(self.database))

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_ids


def _ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError as error:
        raise ConfigError(f"ADMIN_IDS must be comma-separated user ids, not {raw!r}") from error


def _database_url(env: dict[str, str]) -> str | None:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    try:
        location = parse_location(raw) if "://" in raw else None
    except ValueError as error:
        raise ConfigError(f"DATABASE_URL: {error}") from error
    if location is None or location.backend != "postgresql":
        raise ConfigError(
            "DATABASE_URL must be a postgresql://user:password@host:port/dbname URL "
            "(for SQLite, leave it unset and set DATABASE_PATH)"
        )
    return raw


def _recipe(env: dict[str, str]) -> RetrainRecipe:
    """The retrain recipe's defaults live in training.recipe; a variable overrides one.
    A value the recipe refuses is reported under the variable's name, at start-up."""
    defaults = RetrainRecipe()
    trust, focus, gate = defaults.trust, defaults.focus, defaults.gate

    def build() -> RetrainRecipe:
        return RetrainRecipe(
            mode=_choice(env, "RETRAIN_MODE", defaults.mode, ("finetune", "full")),  # type: ignore[arg-type]
            trust=TrustRules(
                agreement=_int(env, "RETRAIN_AGREEMENT", trust.agreement),
                confident=_float(env, "RETRAIN_CONFIDENT", trust.confident),
                confident_agreement=_int(
                    env, "RETRAIN_CONFIDENT_AGREEMENT", trust.confident_agreement
                ),
                min_users=_int(env, "RETRAIN_MIN_USERS", trust.min_users),
                max_user_share=_float(env, "RETRAIN_MAX_USER_SHARE", trust.max_user_share),
                max_per_user=_int(env, "RETRAIN_MAX_PER_USER", trust.max_per_user),
            ),
            focus=FocusRules(
                steps=_int(env, "RETRAIN_STEPS", focus.steps),
                replay_rows=_int(env, "RETRAIN_REPLAY_ROWS", focus.replay_rows),
            ),
            gate=GateRules(
                nsmc_rows=_int(env, "GATE_NSMC_ROWS", gate.nsmc_rows),
                max_nsmc_drop=_float(env, "GATE_MAX_NSMC_DROP", gate.max_nsmc_drop),
                min_learned=_float(env, "GATE_MIN_LEARNED", gate.min_learned),
            ),
            limit=_int(env, "RETRAIN_LIMIT", 0, minimum=0) or None,
        )

    try:
        return build()
    except RecipeError as error:
        field = str(error).split()[0]
        variable = RECIPE_VARIABLES.get(field, "a RETRAIN_* or GATE_* variable")
        raise ConfigError(f"{variable}: {error}") from error


# Which variable sets which recipe field, so a refused value is reported by its name.
RECIPE_VARIABLES = {
    "mode": "RETRAIN_MODE",
    "agreement": "RETRAIN_AGREEMENT",
    "confident": "RETRAIN_CONFIDENT",
    "confident_agreement": "RETRAIN_CONFIDENT_AGREEMENT",
    "min_users": "RETRAIN_MIN_USERS",
    "max_user_share": "RETRAIN_MAX_USER_SHARE",
    "max_per_user": "RETRAIN_MAX_PER_USER",
    "steps": "RETRAIN_STEPS",
    "replay_rows": "RETRAIN_REPLAY_ROWS",
    "nsmc_rows": "GATE_NSMC_ROWS",
    "max_nsmc_drop": "GATE_MAX_NSMC_DROP",
    "min_learned": "GATE_MIN_LEARNED",
    "limit": "RETRAIN_LIMIT",
}


def _choice(env: dict[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _int(
    env: dict[str, str],
    name: str,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    try:
        value = int(env.get(name, default))
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, not {env[name]!r}") from error
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, minimum: float | None = None) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, not {env[name]!r}") from error
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, not {value:g}")
    return value
