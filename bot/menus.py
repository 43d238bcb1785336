"""The command menus Telegram shows, per scope and language, from one table.

Telegram picks the most specific menu for a chat: chat administrators of a group see the
`AllChatAdministrators` list, other group members the `AllGroupChats` one, everyone in a
private chat the `AllPrivateChats` one. Each is set once without a language (the fallback,
Korean) and once per catalogue language.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
)

from bot import i18n


class Scope(Enum):
    PRIVATE = "private"
    GROUP = "group"
    GROUP_ADMIN = "group_admin"


@dataclass(frozen=True)
class Command:
    name: str
    scopes: frozenset[Scope]


_EVERYWHERE = frozenset(Scope)
_PRIVATE = frozenset({Scope.PRIVATE})
_GROUPS = frozenset({Scope.GROUP, Scope.GROUP_ADMIN})
_GROUP_ADMIN = frozenset({Scope.GROUP_ADMIN})

# Bot-admin commands (/status, /retrain, …) are offered in private chats only: they work
# for the ids in ADMIN_IDS, and a menu cannot be limited to those without a scope per
# admin; everyone else gets a polite refusal.
COMMANDS = (
    Command("help", _EVERYWHERE),
    Command("trace", _EVERYWHERE),
    Command("correct", _EVERYWHERE),
    Command("mood", _GROUPS),
    Command("dashboard", _GROUPS),
    Command("mood_alert", _GROUP_ADMIN),
    Command("digest", _GROUP_ADMIN),
    Command("store_text", _GROUP_ADMIN),
    Command("language", _GROUP_ADMIN),
    Command("timezone", _GROUP_ADMIN),
    Command("mood_export", _GROUP_ADMIN),
    Command("forget", _EVERYWHERE),
    Command("optout", _EVERYWHERE),
    Command("optin", _EVERYWHERE),
    Command("rnn", _PRIVATE),
    Command("lstm", _PRIVATE),
    Command("gru", _PRIVATE),
)

_TELEGRAM_SCOPES: dict[Scope, BotCommandScope] = {
    Scope.PRIVATE: BotCommandScopeAllPrivateChats(),
    Scope.GROUP: BotCommandScopeAllGroupChats(),
    Scope.GROUP_ADMIN: BotCommandScopeAllChatAdministrators(),
}


def command_menu(scope: Scope, lang: str) -> list[BotCommand]:
    """The menu of one scope in one language, in the table's order."""
    return [
        BotCommand(command.name, i18n.text(f"menu.{command.name}", lang))
        for command in COMMANDS
        if scope in command.scopes
    ]


async def publish_menus(bot: Bot) -> None:
    """Set every scope's menu in every language, plus a language-less fallback."""
    for scope, telegram_scope in _TELEGRAM_SCOPES.items():
        await bot.set_my_commands(command_menu(scope, i18n.DEFAULT_LANGUAGE), scope=telegram_scope)
        for lang in i18n.languages():
            await bot.set_my_commands(
                command_menu(scope, lang), scope=telegram_scope, language_code=lang
            )
