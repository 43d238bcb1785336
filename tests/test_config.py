"""Settings are read and checked once, at start-up; a bad value names its variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings
from training.recipe import RetrainRecipe


def test_defaults_embed_the_retrain_recipe():
    settings = Settings.from_env({})
    assert settings.retrain == RetrainRecipe()
    assert settings.retrain_after_corrections == 20 and settings.retention_days == 90


def test_recipe_variables_reach_the_recipe():
    settings = Settings.from_env(
        {
            "RETRAIN_AGREEMENT": "3",
            "RETRAIN_CONFIDENT_AGREEMENT": "4",
            "RETRAIN_STEPS": "50",
            "RETRAIN_STUDENT_STEPS": "40",
            "GATE_NSMC_ROWS": "2000",
            "RETRAIN_MODE": "full",
            "RETRAIN_LIMIT": "1000",
        }
    )
    recipe = settings.retrain
    assert (recipe.trust.agreement, recipe.trust.confident_agreement) == (3, 4)
    assert (recipe.focus.steps, recipe.focus.student_steps) == (50, 40)
    assert (recipe.focus.steps, recipe.gate.nsmc_rows, recipe.mode, recipe.limit) == (
        50,
        2000,
        "full",
        1000,
    )


def test_a_fresh_install_answers_with_a_quick_model_unless_told_to_wait():
    assert Settings.from_env({}).first_model.quick
    assert not Settings.from_env({"FIRST_MODEL": "full"}).first_model.quick


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RETRAIN_MAX_USER_SHARE", "1.5", "RETRAIN_MAX_USER_SHARE: max_user_share must be in"),
        ("RETRAIN_AGREEMENT", "5", "RETRAIN_CONFIDENT_AGREEMENT"),
        ("GATE_NSMC_ROWS", "0", "GATE_NSMC_ROWS: nsmc_rows must be at least 1"),
        ("RETRAIN_MODE", "sometimes", "RETRAIN_MODE must be one of finetune, full"),
        ("RETRAIN_STEPS", "many", "RETRAIN_STEPS must be a whole number"),
        ("RETENTION_DAYS", "0", "RETENTION_DAYS must be at least 1"),
        ("WEBHOOK_PORT", "70000", "WEBHOOK_PORT must be at most 65535"),
        ("RATE_LIMIT_PER_MINUTE", "-1", "RATE_LIMIT_PER_MINUTE must be at least 0"),
        ("ADMIN_IDS", "alice", "ADMIN_IDS must be comma-separated user ids"),
        ("FIRST_MODEL", "fast", "FIRST_MODEL must be one of quick, full"),
        ("DATABASE_URL", "mysql://db/bot", "DATABASE_URL: unsupported database 'mysql'"),
        ("DATABASE_URL", "postgresql://db", "DATABASE_URL: a PostgreSQL URL must name the"),
        ("DATABASE_URL", "postgresql+psycopg://db/bot", "DATABASE_URL: .* through asyncpg"),
        ("DATABASE_URL", "var/bot.sqlite3", "DATABASE_URL must be a postgresql://"),
        ("DATABASE_URL", "sqlite:///var/bot.sqlite3", "DATABASE_URL must be a postgresql://"),
        ("RETRAIN_CRON", "61 3 * * *", "RETRAIN_CRON must be five crontab fields"),
        ("RETRAIN_CRON", "every night", "RETRAIN_CRON must be five crontab fields"),
        ("WEBHOOK_URL", "http://bot.example.com/hook", "WEBHOOK_URL must be an https:// URL"),
        ("WEBHOOK_URL", "https:///hook", "WEBHOOK_URL must be an https:// URL with a host"),
        ("WEBHOOK_URL", "https://bot.example.com:99999/", "WEBHOOK_URL is not a URL"),
        ("WEBHOOK_URL", "https://bot.example.com/hook", "WEBHOOK_SECRET must be set"),
        ("WEBHOOK_SECRET", "has space", "WEBHOOK_SECRET must be 1-256 characters"),
        ("WEBHOOK_SECRET", "x" * 257, "WEBHOOK_SECRET must be 1-256 characters"),
        ("WEBHOOK_SECRET", "sécret", "WEBHOOK_SECRET must be 1-256 characters"),
    ],
)
def test_a_bad_value_is_refused_at_start_with_its_name(variable, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({variable: value})


def test_replicas_share_the_bots_limits() -> None:
    one = Settings.from_env({})
    three = Settings.from_env({"REPLICAS": "3", "RATE_LIMIT_PER_MINUTE": "20"})
    assert (one.outgoing_per_second_here, one.rate_limit_per_minute_here) == (30.0, 20)
    assert three.outgoing_per_second_here == 10.0 and three.rate_limit_per_minute_here == 7
    assert (
        Settings.from_env(
            {"REPLICAS": "4", "RATE_LIMIT_PER_MINUTE": "0"}
        ).rate_limit_per_minute_here
        == 0
    )
    with pytest.raises(ConfigError, match="REPLICAS"):
        Settings.from_env({"REPLICAS": "0"})


def test_the_database_is_the_sqlite_file_unless_database_url_is_set():
    assert Settings.from_env({"DATABASE_PATH": "/data/bot.db"}).database == Path("/data/bot.db")
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://bot:s3cret@db.internal:5432/sentiment"}
    )
    assert settings.database == "postgresql://bot:s3cret@db.internal:5432/sentiment"
    assert "s3cret" not in settings.database_label and "db.internal" in settings.database_label


def test_webhook_settings_that_telegram_accepts():
    settings = Settings.from_env(
        {"WEBHOOK_URL": "https://bot.example.com:8443/tg", "WEBHOOK_SECRET": "A-z_09" * 40}
    )
    assert settings.webhook_url == "https://bot.example.com:8443/tg"
    assert settings.webhook_secret == "A-z_09" * 40
    assert (
        Settings.from_env({"RETRAIN_CRON": "30 2 * * mon-fri"}).retrain_cron == "30 2 * * mon-fri"
    )
    assert Settings.from_env({"RETRAIN_CRON": "off"}).retrain_cron is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RETRAIN_CRON", "0 25 * * *"), ("WEBHOOK_SECRET", "no spaces allowed")],
)
def test_the_bot_stops_at_start_with_one_line_and_exit_2(tmp_path, variable, value):
    """Before anything else happens (no model trained, no database opened)."""
    env = {
        key: val
        for key, val in os.environ.items()
        if key not in ("DATABASE_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "RETRAIN_CRON")
    }
    env.update(
        {
            variable: value,
            "MODEL_REGISTRY": str(tmp_path / "registry"),
            "DATABASE_PATH": str(tmp_path / "bot.db"),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}")
    assert value not in done.stderr or variable != "WEBHOOK_SECRET"  # a secret is not echoed
    assert not (tmp_path / "registry").exists() and not (tmp_path / "bot.db").exists()
