"""The dashboard's service: who may see a group's dashboard, the links that open it, and
its figures.

Who: a group's admins, and its members once the admins allowed it (``/dashboard members
on``); asked of Telegram (getChatMember) and remembered for MEMBER_CACHE_S, so a page
that reloads does not cost a Bot API call each time, while a demoted admin loses access
within a minute.

Which group: a web_app button can be sent only in a private chat, so ``/dashboard`` in a
group answers with a deep link, ``t.me/<bot>?start=dash_<token>``, and the private chat it
opens gets the web_app button; the token (bot.webapp_auth) names the group and cannot be
changed into another group's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import dashboard_data
from bot.dashboard_data import GroupView
from bot.replies import Lang, say
from bot.service import SentimentService, UsageError
from bot.webapp_auth import chat_of_token, chat_token

MEMBER_CACHE_S = 60.0
_CACHE_LIMIT = 10_000  # (chat, user) pairs remembered; the oldest half goes beyond that
START_PREFIX = "dash_"  # the /start parameter of a dashboard deep link
_ADMINS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)

DRIVERS_DAYS = 7  # the words that moved the mood this past week


class TelegramUnavailable(Exception):
    """getChatMember failed for a reason other than an answer (network, flood limit)."""


@dataclass(frozen=True, slots=True)
class _Membership:
    admin: bool
    member: bool
    at: float


class Dashboard:
    def __init__(
        self,
        service: SentimentService,
        bot: Bot | None,
        *,
        url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.bot = bot
        self.url = url  # DASHBOARD_URL; None: no dashboard (it says how to enable it)
        self.clock = clock
        self._memberships: dict[tuple[int, int], _Membership] = {}

    @property
    def token(self) -> str:
        return self.service.settings.token or ""

    # --- links ---------------------------------------------------------------------

    def deep_link(self, chat_id: int, bot_username: str) -> str:
        """The group's link to the private chat, where the web_app button can be sent."""
        return f"https://t.me/{bot_username}?start={START_PREFIX}{chat_token(chat_id, self.token)}"

    def chat_of_start(self, parameter: str) -> int | None:
        """The group a ``/start dash_<token>`` names, or None (not a dashboard link, or
        a token this bot did not make)."""
        if not parameter.startswith(START_PREFIX):
            return None
        return chat_of_token(parameter[len(START_PREFIX) :], self.token)

    def page_url(self, chat_id: int) -> str:
        """The web_app button's URL; Telegram appends the signed initData as #tgWebAppData."""
        assert self.url is not None
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}{urlencode({'chat': chat_token(chat_id, self.token)})}"

    # --- who ---------------------------------------------------------------------------

    async def may_view(self, chat_id: int, user_id: int) -> bool:
        membership = await self._membership(chat_id, user_id)
        if membership.admin:
            return True
        return membership.member and await self.service.storage.dashboards.members_allowed(chat_id)

    async def _membership(self, chat_id: int, user_id: int) -> _Membership:
        now = self.clock()
        known = self._memberships.get((chat_id, user_id))
        if known is not None and now - known.at < MEMBER_CACHE_S:
            return known
        if self.bot is None:
            raise TelegramUnavailable("no Bot API connection")
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except (BadRequest, Forbidden):  # not in the group, or the bot was removed
            membership = _Membership(admin=False, member=False, at=now)
        except TelegramError as error:
            raise TelegramUnavailable(str(error)) from error
        else:
            status = member.status
            admin = status in _ADMINS
            restricted_member = getattr(member, "is_member", False) is True
            member_now = status == ChatMemberStatus.MEMBER or restricted_member
            membership = _Membership(admin=admin, member=admin or member_now, at=now)
        self._remember((chat_id, user_id), membership)
        return membership

    def _remember(self, key: tuple[int, int], membership: _Membership) -> None:
        if len(self._memberships) >= _CACHE_LIMIT:
            oldest = sorted(self._memberships, key=lambda k: self._memberships[k].at)
            for stale in oldest[: _CACHE_LIMIT // 2]:
                del self._memberships[stale]
        self._memberships[key] = membership

    async def set_members(self, chat_id: int, args: list[str], lang: Lang) -> str:
        """``/dashboard members on|off``: whether members may open it, not only admins."""
        choice = args[1].lower() if len(args) == 2 and args[0].lower() == "members" else ""
        if choice not in ("on", "off", "켜기", "끄기"):
            raise UsageError(say("dashboard.usage", lang))
        allowed = choice in ("on", "켜기")
        await self.service.storage.dashboards.allow_members(chat_id, allowed)
        return say("dashboard.members_on" if allowed else "dashboard.members_off", lang)

    # --- what --------------------------------------------------------------------------

    async def document(self, chat_id: int) -> dict[str, Any]:
        """The group's figures for the page, in its language and time zone."""
        service = self.service
        now = self.clock()
        rows = await service.storage.mood.scores(
            chat_id, now - dashboard_data.HISTORY_DAYS * 86_400
        )
        group = GroupView(
            lang=await service.chat_language(chat_id),
            zone=await service.chat_zone(chat_id),
            threshold=(await service.storage.chats.chat_settings(chat_id)).alert_threshold,
            min_members=service.settings.mood_min_members,
        )
        drivers = await service.storage.mood_words.drivers(
            chat_id, now - DRIVERS_DAYS * 86_400, now, min_members=group.min_members
        )
        # Twelve weeks of a busy group are ~1 s of arithmetic: off the event loop.
        return await asyncio.to_thread(dashboard_data.dashboard_document, rows, group, now, drivers)
