"""`python -m bot` (what `make run` calls).

With TELEGRAM_TOKEN set it runs the Telegram bot; without, a chat in the terminal. Either
way, if no model has been trained yet, it first fits a quick one and trains the full model
behind it (bot.first_model).
"""

from __future__ import annotations

import os

# Before numpy loads: small matrix products run fastest on one BLAS thread (see Makefile).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import asyncio
import logging
import sys

from telegram.error import InvalidToken

from bot.first_model import ensure_model
from bot.settings import ConfigError, Settings
from bot.storage import StorageError


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    ensure_model(settings)
    try:
        if settings.token:
            from bot.app import serve_forever

            serve_forever(settings)
        else:
            from bot.console import run_console

            asyncio.run(run_console(settings))
    except StorageError as error:  # the database could not be opened at start-up
        print(f"database {settings.database_label}: {error}", file=sys.stderr)
        return 3
    except InvalidToken:  # its message repeats the token, which must not reach the log
        print(
            "configuration error: TELEGRAM_TOKEN was rejected by Telegram; "
            "copy it again from @BotFather",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
