"""Start-up faults an operator meets first stop the bot with one line that says what to fix."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.e2e import telegram_env

REPO = Path(__file__).resolve().parents[1]


async def test_a_wrong_token_stops_the_bot_with_one_line_that_does_not_repeat_it(
    tg, trained_registry, tmp_path: Path
):
    wrong = "123456789:WRONG-token-from-an-old-bot"
    env = {
        **os.environ,
        **telegram_env(tg),
        "TELEGRAM_TOKEN": wrong,
        "MODEL_REGISTRY": str(trained_registry.root),
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "DEMO_CACHE_DIR": str(tmp_path / "demos"),
        "PYTHONPATH": str(REPO),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = stderr.decode()
    assert process.returncode == 2, errors[-2000:]
    assert errors.strip().splitlines()[-1] == (
        "configuration error: TELEGRAM_TOKEN was rejected by Telegram; "
        "copy it again from @BotFather"
    )
    assert "WRONG-token" not in errors
    assert [error.error_code for error in tg.errors] == [401]
    tg.errors.clear()  # the refusal was the point; the fixture checks for others
