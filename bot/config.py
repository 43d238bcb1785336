"""All bot settings in one typed place, read from environment variables with defaults.

| variable | default | meaning |
|---|---|---|
| TELEGRAM_TOKEN | (none) | bot token; without it `make run` starts the terminal chat |
| ADMIN_IDS | (none) | comma-separated Telegram user ids allowed to use admin commands |
| DATABASE_PATH | var/bot.sqlite3 | the SQLite file |
| MODEL_REGISTRY | var/models | model versions and the CURRENT pointer |
| TELEGRAM_BASE_URL | https://api.telegram.org/bot | Bot API endpoint (local server, tests) |
| TELEGRAM_BASE_FILE_URL | https://api.telegram.org/file/bot | file endpoint |
| WEBHOOK_URL | (none) | public HTTPS URL; when set the bot uses a webhook instead of polling |
| WEBHOOK_LISTEN / WEBHOOK_PORT / WEBHOOK_SECRET | 0.0.0.0 / 8443 / (none) | webhook server |
| RETRAIN_CRON | 0 3 * * * | when the retraining job runs (crontab syntax, UTC); "off" disables |
| RETRAIN_MODE | finetune | finetune from the current weights, or full |
| RETRAIN_EPOCHS / RETRAIN_MAX_PER_USER | 1 / 50 | retraining recipe |
| RETRAIN_LIMIT / RETRAIN_TEST_LIMIT | all / 2000 | NSMC training rows (n-grams too) / test rows |
| RETRAIN_HELDOUT_FRACTION | 0.2 | share of corrections kept aside for the gate |
| GATE_MAX_ACCURACY_DROP / GATE_MIN_FIXED_SHARE | 0.005 / 0.5 | validation gate |
| RATE_LIMIT_PER_MINUTE | 20 | messages a user may have traced per minute |
| MOOD_WINDOW | 20 | messages in the rolling mood that drives alerts |
| DEMO_CACHE_DIR | var/demos | cached /rnn /lstm /gru results |
| POLL_TIMEOUT | 30 | long-polling timeout in seconds |
| POLL_INTERVAL | 0.01 | pause between polls, so updates arriving together come in one getUpdates |
| DB_BUSY_TIMEOUT | 5 | seconds to wait for a locked database before answering "busy" |
| OUTGOING_PER_SECOND | 30 | outgoing messages per second (Telegram's limit) |
| HTTP_CONNECTIONS | 16 | pooled connections to the Bot API (more cost CPU on every request) |
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from training.config import TrainingPaths


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    token: str | None
    admin_ids: frozenset[int]
    database_path: Path
    paths: TrainingPaths
    base_url: str
    base_file_url: str
    webhook_url: str | None
    webhook_listen: str
    webhook_port: int
    webhook_secret: str | None
    retrain_cron: str | None
    retrain_mode: str
    retrain_epochs: int
    retrain_max_per_user: int
    retrain_limit: int | None
    retrain_test_limit: int
    retrain_heldout_fraction: float
    gate_max_accuracy_drop: float
    gate_min_fixed_share: float
    rate_limit_per_minute: int
    mood_window: int
    demo_cache_dir: Path
    poll_timeout: int
    poll_interval: float
    outgoing_per_second: float
    http_connections: int
    db_busy_timeout: float
    python: str = sys.executable

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        cron = env.get("RETRAIN_CRON", "0 3 * * *").strip()
        mode = env.get("RETRAIN_MODE", "finetune")
        if mode not in ("finetune", "full"):
            raise ConfigError(f"RETRAIN_MODE must be 'finetune' or 'full', not {mode!r}")
        return cls(
            token=env.get("TELEGRAM_TOKEN") or None,
            admin_ids=_ids(env.get("ADMIN_IDS", "")),
            database_path=Path(env.get("DATABASE_PATH", "var/bot.sqlite3")),
            paths=TrainingPaths.from_env(env),
            base_url=env.get("TELEGRAM_BASE_URL", "https://api.telegram.org/bot"),
            base_file_url=env.get("TELEGRAM_BASE_FILE_URL", "https://api.telegram.org/file/bot"),
            webhook_url=env.get("WEBHOOK_URL") or None,
            webhook_listen=env.get("WEBHOOK_LISTEN", "0.0.0.0"),
            webhook_port=_int(env, "WEBHOOK_PORT", 8443),
            webhook_secret=env.get("WEBHOOK_SECRET") or None,
            retrain_cron=None if cron.lower() in ("", "off", "none") else cron,
            retrain_mode=mode,
            retrain_epochs=_int(env, "RETRAIN_EPOCHS", 1),
            retrain_max_per_user=_int(env, "RETRAIN_MAX_PER_USER", 50),
            retrain_limit=_int(env, "RETRAIN_LIMIT", 0) or None,
            retrain_test_limit=_int(env, "RETRAIN_TEST_LIMIT", 2000),
            retrain_heldout_fraction=_float(env, "RETRAIN_HELDOUT_FRACTION", 0.2),
            gate_max_accuracy_drop=_float(env, "GATE_MAX_ACCURACY_DROP", 0.005),
            gate_min_fixed_share=_float(env, "GATE_MIN_FIXED_SHARE", 0.5),
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 20),
            mood_window=_int(env, "MOOD_WINDOW", 20),
            demo_cache_dir=Path(env.get("DEMO_CACHE_DIR", "var/demos")),
            poll_timeout=_int(env, "POLL_TIMEOUT", 30),
            poll_interval=_float(env, "POLL_INTERVAL", 0.01),
            outgoing_per_second=_float(env, "OUTGOING_PER_SECOND", 30.0),
            http_connections=_int(env, "HTTP_CONNECTIONS", 16),
            db_busy_timeout=_float(env, "DB_BUSY_TIMEOUT", 5.0),
        )

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_ids


def _ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError as error:
        raise ConfigError(f"ADMIN_IDS must be comma-separated user ids, not {raw!r}") from error


def _int(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, not {env[name]!r}") from error


def _float(env: dict[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, not {env[name]!r}") from error
