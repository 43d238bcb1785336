"""All bot settings in one typed place, read from environment variables with defaults.

`VARIABLES` lists every variable the settings read, with its default; `Settings.from_env`
takes its defaults from there, and README.md's configuration table (what each one does) is
checked against it by tests/test_readme.py.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.storage.location import parse_location
from training import paths as training_paths
from training.paths import TrainingPaths, Variable, path_setting
from training.recipe import RecipeError, RetrainRecipe

_RECIPE = RetrainRecipe()  # the retrain recipe's defaults live in training.recipe


@dataclass(frozen=True)
class RecipeSetting:
    """A variable that sets one field of the retrain recipe: its name, where its value goes
    (`part` is trust, focus or gate, or recipe for the recipe's own fields), how it is
    read, and its default (the recipe's own unless given)."""

    name: str
    part: str
    field: str
    read: Callable[[Mapping[str, str], str], Any]
    default: str | None = None

    @property
    def variable(self) -> Variable:
        if self.default is not None:
            return Variable(self.name, self.default)
        holder = _RECIPE if self.part == "recipe" else getattr(_RECIPE, self.part)
        return Variable(self.name, str(getattr(holder, self.field)))


def _mode(env: Mapping[str, str], name: str) -> str:
    return _choice(env, name, ("finetune", "full"))


def _limit(env: Mapping[str, str], name: str) -> int | None:
    return _int(env, name, minimum=0) or None  # 0: every NSMC training row


# The one mapping from variables to the retrain recipe: VARIABLES, the recipe and the name
# in an error message all come from here.
RECIPE_SETTINGS: tuple[RecipeSetting, ...] = (
    RecipeSetting("RETRAIN_MODE", "recipe", "mode", _mode),
    RecipeSetting("RETRAIN_AGREEMENT", "trust", "agreement", lambda e, n: _int(e, n)),
    RecipeSetting("RETRAIN_CONFIDENT", "trust", "confident", lambda e, n: _float(e, n)),
    RecipeSetting(
        "RETRAIN_CONFIDENT_AGREEMENT", "trust", "confident_agreement", lambda e, n: _int(e, n)
    ),
    RecipeSetting("RETRAIN_MIN_USERS", "trust", "min_users", lambda e, n: _int(e, n)),
    RecipeSetting("RETRAIN_MAX_USER_SHARE", "trust", "max_user_share", lambda e, n: _float(e, n)),
    RecipeSetting("RETRAIN_MAX_PER_USER", "trust", "max_per_user", lambda e, n: _int(e, n)),
    RecipeSetting("RETRAIN_STEPS", "focus", "steps", lambda e, n: _int(e, n)),
    RecipeSetting("RETRAIN_STUDENT_STEPS", "focus", "student_steps", lambda e, n: _int(e, n)),
    RecipeSetting("RETRAIN_REPLAY_ROWS", "focus", "replay_rows", lambda e, n: _int(e, n)),
    RecipeSetting("RETRAIN_LIMIT", "recipe", "limit", _limit, default="0"),
    RecipeSetting("GATE_NSMC_ROWS", "gate", "nsmc_rows", lambda e, n: _int(e, n)),
    RecipeSetting("GATE_MAX_NSMC_DROP", "gate", "max_nsmc_drop", lambda e, n: _float(e, n)),
    RecipeSetting("GATE_MIN_LEARNED", "gate", "min_learned", lambda e, n: _float(e, n)),
)

# Every variable Settings.from_env reads (the bot's, then training's paths), and nothing else.
VARIABLES: tuple[Variable, ...] = (
    Variable("TELEGRAM_TOKEN", ""),
    Variable("ADMIN_IDS", ""),
    Variable("DATABASE_URL", ""),
    Variable("DATABASE_PATH", "var/bot.sqlite3"),
    Variable("FIRST_MODEL", "quick"),
    Variable("MODEL_POLL_SECONDS", "5"),
    Variable("REPLICAS", "1"),
    Variable("BOT_ROLE", "all"),
    Variable("TELEGRAM_BASE_URL", "https://api.telegram.org/bot"),
    Variable("TELEGRAM_BASE_FILE_URL", "https://api.telegram.org/file/bot"),
    Variable("WEBHOOK_URL", ""),
    Variable("WEBHOOK_LISTEN", "0.0.0.0"),
    Variable("WEBHOOK_PORT", "8443"),
    Variable("WEBHOOK_SECRET", ""),
    Variable("TIMEZONE", "Asia/Seoul"),
    Variable("RETRAIN_CRON", "0 3 * * *"),
    Variable("RETRAIN_AFTER_CORRECTIONS", "20"),
    Variable("RETRAIN_INTERVAL_MINUTES", "60"),
    *(setting.variable for setting in RECIPE_SETTINGS),
    Variable("RETRAIN_TIMEOUT_MINUTES", "360"),
    Variable("RETENTION_DAYS", "90"),
    Variable("RATE_LIMIT_PER_MINUTE", "20"),
    Variable("MOOD_WINDOW", "20"),
    Variable("MOOD_MIN_MEMBERS", "3"),
    Variable("IMPORT_PROCESSES", "2"),
    Variable("DEMO_CACHE_DIR", "var/demos"),
    Variable("POLL_TIMEOUT", "30"),
    Variable("POLL_INTERVAL", "0.05"),
    Variable("OUTGOING_PER_SECOND", "30"),
    Variable("HTTP_CONNECTIONS", "16"),
    Variable("DB_BUSY_TIMEOUT", "5"),
    Variable("ERROR_CHAT_ID", ""),
    Variable("METRICS_PORT", "0"),
    Variable("DASHBOARD_URL", ""),
    Variable("DASHBOARD_MAX_AGE_HOURS", "24"),
    *training_paths.VARIABLES,
)
DEFAULTS: dict[str, str] = {variable.name: variable.default for variable in VARIABLES}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


class Role(StrEnum):
    """What one process of the bot does (BOT_ROLE); one process can do it all."""

    ALL = "all"  # takes updates and runs the retrains and the retention job
    REPLICA = "replica"  # takes updates; retrains only when an admin asks (/retrain)
    TRAINER = "trainer"  # takes no updates; runs the scheduled and automatic retrains

    @property
    def takes_updates(self) -> bool:
        return self is not Role.TRAINER

    @property
    def runs_jobs(self) -> bool:
        return self is not Role.REPLICA


@dataclass(frozen=True)
class FirstModelPlan:
    """What a start with no model trains (see bot.first_model). Only FIRST_MODEL is a
    variable; the sizes are fields so tests can train small models the same way."""

    quick: bool = True  # FIRST_MODEL=quick
    quick_config: str = "ngram"  # the member that fits in about a minute
    full_config: str = "default"
    limit: int | None = None  # NSMC training rows (None: all)
    quick_test_rows: int | None = 10_000  # its figure only has to be honest, not final
    full_test_rows: int | None = None
    epochs: int | None = None  # None: each configuration's own


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
    timezone: ZoneInfo
    retrain_cron: str | None
    retrain: RetrainRecipe  # the scheduled and /retrain runs (mode: the nightly one)
    retrain_after_corrections: int
    retrain_interval_minutes: float
    retrain_timeout: float
    retention_days: float
    rate_limit_per_minute: int
    mood_window: int
    mood_min_members: int  # mood is shown only for windows with this many distinct senders
    import_processes: int  # processes tracing a chat export (nlp.batch_processes); 0: threads
    demo_cache_dir: Path
    poll_timeout: int
    poll_interval: float
    outgoing_per_second: float
    http_connections: int
    db_busy_timeout: float
    model_poll_seconds: float
    replicas: int
    role: Role
    error_chat_id: int | None = None  # None: internal errors are reported to the admins
    metrics_port: int = 0  # polling mode: a port for /metrics and the health checks; 0: none
    dashboard_url: str | None = None  # the Mini App's public https URL; None: no dashboard
    dashboard_max_age: float = 24 * 3600.0  # seconds an opened dashboard's initData is good for
    first_model: FirstModelPlan = FirstModelPlan()
    python: str = sys.executable

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        timezone = _zone(env, "TIMEZONE")
        webhook_url = _https_url(env, "WEBHOOK_URL")
        return cls(
            token=_str(env, "TELEGRAM_TOKEN") or None,
            admin_ids=_ids(_str(env, "ADMIN_IDS")),
            database_path=path_setting(env, "DATABASE_PATH", DEFAULTS),
            database_url=_database_url(env),
            paths=TrainingPaths.from_env(env),
            base_url=_str(env, "TELEGRAM_BASE_URL"),
            base_file_url=_str(env, "TELEGRAM_BASE_FILE_URL"),
            webhook_url=webhook_url,
            webhook_listen=_str(env, "WEBHOOK_LISTEN"),
            webhook_port=_int(env, "WEBHOOK_PORT", minimum=1, maximum=65535),
            webhook_secret=_webhook_secret(env, required=webhook_url is not None),
            timezone=timezone,
            retrain_cron=_cron(env, timezone),
            retrain=_recipe(env),
            retrain_after_corrections=_int(env, "RETRAIN_AFTER_CORRECTIONS", minimum=0),
            retrain_interval_minutes=_float(env, "RETRAIN_INTERVAL_MINUTES", minimum=0),
            retrain_timeout=_float(env, "RETRAIN_TIMEOUT_MINUTES", minimum=1) * 60,
            retention_days=_float(env, "RETENTION_DAYS", minimum=1),
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", minimum=0),
            mood_window=_int(env, "MOOD_WINDOW", minimum=1),
            mood_min_members=_int(env, "MOOD_MIN_MEMBERS", minimum=1),
            import_processes=_int(env, "IMPORT_PROCESSES", minimum=0, maximum=64),
            demo_cache_dir=path_setting(env, "DEMO_CACHE_DIR", DEFAULTS),
            poll_timeout=_int(env, "POLL_TIMEOUT", minimum=0),
            poll_interval=_float(env, "POLL_INTERVAL", minimum=0),
            outgoing_per_second=_float(env, "OUTGOING_PER_SECOND", minimum=0.01),
            http_connections=_int(env, "HTTP_CONNECTIONS", minimum=1),
            db_busy_timeout=_float(env, "DB_BUSY_TIMEOUT", minimum=0),
            model_poll_seconds=_float(env, "MODEL_POLL_SECONDS", minimum=0),
            replicas=_int(env, "REPLICAS", minimum=1, maximum=64),
            role=Role(_choice(env, "BOT_ROLE", tuple(Role))),
            error_chat_id=_chat_id(env, "ERROR_CHAT_ID"),
            metrics_port=_int(env, "METRICS_PORT", minimum=0, maximum=65535),
            dashboard_url=_https_url(env, "DASHBOARD_URL"),
            dashboard_max_age=_float(env, "DASHBOARD_MAX_AGE_HOURS", minimum=0.01) * 3600,
            first_model=FirstModelPlan(
                quick=_choice(env, "FIRST_MODEL", ("quick", "full")) == "quick"
            ),
        )

    @property
    def database(self) -> str | Path:
        """What `Storage.open` takes: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def database_label(self) -> str:
        """The database for logs and messages, without a password."""
        return str(parse_location(self.database))

    @property
    def error_report_chats(self) -> tuple[int, ...]:
        """Where internal errors are reported: ERROR_CHAT_ID, else every bot admin."""
        if self.error_chat_id is not None:
            return (self.error_chat_id,)
        return tuple(sorted(self.admin_ids))

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_ids

    # Limits that hold for the bot as a whole: Telegram counts a token's messages, and a
    # user's messages are spread evenly over the replicas by the round-robin proxy, so
    # each of the REPLICAS processes takes its share.

    @property
    def outgoing_per_second_here(self) -> float:
        return self.outgoing_per_second / self.replicas

    @property
    def rate_limit_per_minute_here(self) -> int:
        if self.rate_limit_per_minute == 0:
            return 0
        return max(1, -(-self.rate_limit_per_minute // self.replicas))  # rounded up


def _ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError as error:
        raise ConfigError(f"ADMIN_IDS must be comma-separated user ids, not {raw!r}") from error


def _chat_id(env: Mapping[str, str], name: str) -> int | None:
    raw = _str(env, name).strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a chat id (a whole number), not {raw!r}") from error


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = _str(env, "DATABASE_URL").strip()
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


def _cron(env: Mapping[str, str], timezone: ZoneInfo) -> str | None:
    """RETRAIN_CRON, checked now: a bad one would otherwise fail only when the job is
    scheduled, after start-up (and after a first model's minutes of training)."""
    cron = _str(env, "RETRAIN_CRON").strip()
    if cron.lower() in ("", "off", "none"):
        return None
    try:
        CronTrigger.from_crontab(cron, timezone=timezone)
    except ValueError as error:
        raise ConfigError(
            f"RETRAIN_CRON must be five crontab fields (minute hour day month weekday) "
            f"or off, not {cron!r}: {error}"
        ) from error
    return cron


def _https_url(env: Mapping[str, str], name: str) -> str | None:
    """Telegram delivers webhooks to HTTPS URLs only, and opens Mini Apps from them only."""
    raw = _str(env, name).strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as error:
        raise ConfigError(f"{name} is not a URL: {error}") from error
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{name} must be an https:// URL with a host, not {raw!r}")
    return raw


# What Telegram accepts as a webhook's secret_token (setWebhook).
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _webhook_secret(env: Mapping[str, str], *, required: bool) -> str | None:
    """Without a secret anyone who finds the webhook's URL can post updates as any user,
    so webhook mode does not start without one."""
    secret = _str(env, "WEBHOOK_SECRET")
    if not secret:
        if required:
            raise ConfigError("WEBHOOK_SECRET must be set when WEBHOOK_URL is set")
        return None
    if not _SECRET.fullmatch(secret):
        # The value itself is not shown: it is a secret.
        raise ConfigError(
            f"WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ - "
            f"(it has {len(secret)} characters)"
        )
    return secret


def _recipe(env: Mapping[str, str]) -> RetrainRecipe:
    """The recipe's defaults (training.recipe) with RECIPE_SETTINGS' variables applied. A
    value the recipe refuses is reported under the variable's name, at start-up."""
    fields: dict[str, dict[str, Any]] = {"recipe": {}, "trust": {}, "focus": {}, "gate": {}}
    for setting in RECIPE_SETTINGS:
        fields[setting.part][setting.field] = setting.read(env, setting.name)
    try:
        own = fields.pop("recipe")
        parts = {part: replace(getattr(_RECIPE, part), **values) for part, values in fields.items()}
        return replace(_RECIPE, **own, **parts)
    except RecipeError as error:
        field = str(error).split()[0]
        names = [setting.name for setting in RECIPE_SETTINGS if setting.field == field]
        variable = names[0] if names else "a RETRAIN_* or GATE_* variable"
        raise ConfigError(f"{variable}: {error}") from error


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone `name` (e.g. Asia/Seoul), or None if there is no such zone."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone(env: Mapping[str, str], name: str) -> ZoneInfo:
    zone = zone_named(_str(env, name))
    if zone is None:
        raise ConfigError(f"{name} must be an IANA time zone such as Asia/Seoul, not {env[name]!r}")
    return zone


def _str(env: Mapping[str, str], name: str) -> str:
    """The variable's value, or its default from VARIABLES (a name not listed there is a
    KeyError: every variable read must be listed)."""
    return env.get(name, DEFAULTS[name])


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = _str(env, name)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _int(
    env: Mapping[str, str],
    name: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    try:
        value = int(_str(env, name))
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, not {env[name]!r}") from error
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, minimum: float | None = None) -> float:
    try:
        value = float(_str(env, name))
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, not {env[name]!r}") from error
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, not {value:g}")
    return value
