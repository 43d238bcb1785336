"""Settings are read and checked once, at start-up; a bad value names its variable."""

from __future__ import annotations

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
            "GATE_NSMC_ROWS": "2000",
            "RETRAIN_MODE": "full",
            "RETRAIN_LIMIT": "1000",
        }
    )
    recipe = settings.retrain
    assert (recipe.trust.agreement, recipe.trust.confident_agreement) == (3, 4)
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
