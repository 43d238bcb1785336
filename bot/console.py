"""A chat in the terminal, for trying the bot without a Telegram token.

It goes through the same `SentimentService` as the Telegram handlers and writes to the
same SQLite file, so corrections made here are used by the next retraining too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.app import open_runtime
from bot.replies import help_text
from bot.service import Reply, SentimentService, UsageError, parse_label
from bot.settings import Settings
from bot.storage import StorageError

USER_ID = 1  # the person at the terminal
PRIVATE_CHAT = 1
GROUP_CHAT = -1  # a pretend group, to try /mood

BANNER = """한국어 감정 추적기 — 터미널 대화 (끝내려면 /quit 또는 Ctrl-D)
  문장             판정과 단어별 흐름
  /trace 문장      그래프도 저장 (var/trace.png)
  /wrong           마지막 판정이 틀렸다고 저장
  /correct 긍정|부정  마지막 판정을 고쳐 저장
  /group 문장      가상의 그룹에 메시지 보내기
  /mood [시간]     그룹 분위기 요약 (그래프는 var/mood.png; 혼자서는 MOOD_MIN_MEMBERS=1)
  /mood_alert 0.4  그룹 분위기 알림 기준
  /forget          내 데이터 지우기
  /optout, /optin  내 메시지를 분위기 분석에서 빼기, 다시 넣기
  /help            전체 도움말"""

EXAMPLE = "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다"


class Console:
    def __init__(
        self, service: SentimentService, out: Callable[[str], None], picture_dir: Path
    ) -> None:
        self.service = service
        self.out = out
        self.picture_dir = picture_dir
        self.last_verdict: int | None = None
        self.message_id = 0

    async def handle(self, line: str) -> bool:
        """Answer one line; False when the user wants to leave."""
        line = line.strip()
        command, _, rest = line.partition(" ")
        try:
            if command in ("/quit", "/exit"):
                return False
            await self._dispatch(command, rest, line)
        except UsageError as error:
            self.out(str(error))
        except StorageError as error:
            self.out(f"저장할 수 없어요: {error}")
        return True

    async def _dispatch(self, command: str, rest: str, line: str) -> None:
        service = self.service
        args = rest.split()
        if command in ("/help", "/start"):
            settings = service.settings
            self.out(
                help_text(
                    "ko",
                    agreement=settings.retrain.trust.agreement,
                    retention_days=round(settings.retention_days),
                )
            )
        elif command == "/trace":
            await self._analyse(rest, chart=True)
        elif command in ("/wrong", "/correct"):
            await self._correct(None if command == "/wrong" else _label(args))
        elif command == "/group":
            alert = await service.observe_group_message(
                rest, chat_id=GROUP_CHAT, user_id=USER_ID, at=service.clock()
            )
            self.out(alert or "(그룹에 기록했어요)")
        elif command == "/mood":
            self._show(await service.mood_report(GROUP_CHAT, args, "ko"), "mood.png")
        elif command == "/mood_alert":
            self.out(await service.set_alert(GROUP_CHAT, args, "ko"))
        elif command == "/forget":
            self.out(await service.forget(USER_ID, "ko"))
        elif command == "/optout":
            self.out(await service.opt_out(USER_ID, "ko"))
        elif command == "/optin":
            self.out(await service.opt_in(USER_ID, "ko"))
        elif command.startswith("/"):
            self.out("모르는 명령이에요. /help 를 입력해 보세요.")
        else:
            await self._analyse(line, chart=False)

    async def _analyse(self, text: str, chart: bool) -> None:
        self.message_id += 1
        reply = await self.service.analyse(
            text,
            user_id=USER_ID,
            chat_id=PRIVATE_CHAT,
            message_id=self.message_id,
            lang="ko",
            chart=chart,
        )
        self.last_verdict = reply.verdict_id or self.last_verdict
        self._show(reply, "trace.png")

    async def _correct(self, label: int | None) -> None:
        if self.last_verdict is None:
            self.out("먼저 문장을 보내 주세요.")
            return
        self.out(
            await self.service.correct_verdict(
                self.last_verdict, user_id=USER_ID, chat_id=PRIVATE_CHAT, label=label, lang="ko"
            )
        )

    def _show(self, reply: Reply, picture_name: str) -> None:
        self.out(reply.text.replace("\n판정이 맞았나요?", "\n판정이 틀렸다면 /wrong"))
        if reply.photo:
            self.picture_dir.mkdir(parents=True, exist_ok=True)
            path = self.picture_dir / picture_name
            path.write_bytes(reply.photo)
            self.out(f"(그래프: {path})")


def _label(args: list[str]) -> int:
    label = parse_label(args[0]) if len(args) == 1 else None
    if label is None:
        raise UsageError("사용법: /correct 긍정|부정")
    return label


async def run_console(settings: Settings, stdin: TextIO = sys.stdin) -> None:
    async with open_runtime(settings) as runtime:
        console = Console(runtime.service, print, settings.database_path.parent)
        print(BANNER)
        print(f"\n모델 {runtime.models.model.version} · 예시: {EXAMPLE}")
        if runtime.first_model.state is not None:
            print(
                "(지금은 빠른 모델로 답해요. 전체 모델은 뒤에서 학습 중이고, 끝나면 저절로 "
                "바뀌어요. 진행 상황은 로그에 나와요.)"
            )
        await console.handle(EXAMPLE)
        interactive = stdin.isatty()
        while True:
            if interactive:
                print("\n> ", end="", flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not interactive:
                print(f"\n> {line.rstrip()}")
            if line.strip() and not await console.handle(line):
                break
