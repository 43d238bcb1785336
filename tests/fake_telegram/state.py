"""The simulated Telegram world: users, chats, messages, files and the bot's update queue.

Why a separate module: both sides of the fake mutate the same state. The HTTP side (the bot
calling methods) and the simulated users (tests producing updates) live in different modules
but must agree on message ids, chats and files, and must wake each other up without polling
loops; :class:`Signal` provides that wake-up from plain synchronous code.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import mimetypes
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .errors import ApiError, RecordedError, bad_request

T = TypeVar("T")
ChatType = Literal["private", "group", "supergroup", "channel"]
JsonDict = dict[str, Any]

# Telegram's default when allowed_updates is [] or was never set.
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def now() -> int:
    """Telegram dates are Unix time in whole seconds (not milliseconds)."""
    return int(time.time())


class Signal:
    """A broadcast wake-up that synchronous code can fire.

    ``asyncio.Condition.notify`` needs the lock held, i.e. an ``await``; user-simulation
    helpers are synchronous, so instead each notification sets the current Event and swaps in
    a fresh one. Waiters re-check their predicate after every wake-up.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, probe: Callable[[], T | None], timeout: float | None) -> T:
        """Return the first non-None ``probe()``; raise TimeoutError after ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while True:
                event = self._event  # grab before probing: no await between the two
                result = probe()
                if result is not None:
                    return result
                await event.wait()


@dataclass
class FakeUser:
    """A Telegram account (a simulated person, or the bot itself)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_api(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        return data


@dataclass
class FakeChat:
    """A private chat, (super)group or channel, with its members and administrators."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    peer: FakeUser | None = None
    members: dict[int, FakeUser] = field(default_factory=dict)
    owner_id: int | None = None
    admin_ids: set[int] = field(default_factory=set)
    bot_is_admin: bool = False
    bot_blocked: bool = False
    chat_instance: str = ""

    def to_api(self) -> JsonDict:
        """The ``Chat`` object embedded in messages."""
        data: JsonDict = {"id": self.id, "type": self.type}
        if self.peer is not None:
            data["first_name"] = self.peer.first_name
            if self.peer.last_name:
                data["last_name"] = self.peer.last_name
        if self.title is not None:
            data["title"] = self.title
        username = self.username or (self.peer.username if self.peer else None)
        if username:
            data["username"] = username
        return data

    def full_info(self) -> JsonDict:
        """The ``ChatFullInfo`` returned by getChat (required fields included)."""
        gifts = dict.fromkeys(
            ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"), False
        )
        return {
            **self.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {**gifts, "gifts_from_channels": False},
        }


@dataclass(frozen=True)
class StoredFile:
    """An uploaded or simulated file, downloadable through ``base_file_url``."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    filename: str | None
    mime_type: str | None
    width: int | None = None
    height: int | None = None

    def to_api(self) -> JsonDict:
        """The ``File`` object returned by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }

    def as_upload(self) -> JsonDict:
        """What tests see in ``snapshot["upload"]``."""
        return {
            "file_id": self.file_id,
            "data": self.data,
            "filename": self.filename,
            "mime_type": self.mime_type,
        }


@dataclass
class MessageRecord:
    """A message plus test-only bookkeeping: who sent it, the request that produced its
    current version, previous versions, deletion, upload and reactions."""

    message: JsonDict
    from_bot: bool
    request: JsonDict | None = None
    history: list[JsonDict] = field(default_factory=list)
    deleted: bool = False
    upload: StoredFile | None = None
    reactions: list[JsonDict] = field(default_factory=list)
    delivered: bool = True

    def snapshot(self) -> JsonDict:
        """A deep copy of the message with extra keys ``edit_history``, ``deleted``,
        ``upload``, ``reactions``, ``request`` and ``delivered_to_bot`` for assertions."""
        return {
            **copy.deepcopy(self.message),
            "edit_history": copy.deepcopy(self.history),
            "deleted": self.deleted,
            "upload": self.upload.as_upload() if self.upload else None,
            "reactions": copy.deepcopy(self.reactions),
            "request": copy.deepcopy(self.request),
            "delivered_to_bot": self.delivered,
        }


_SUPERSEDED: list[JsonDict] = []


class UpdateQueue:
    """Updates waiting for the bot, with Telegram's getUpdates semantics.

    An update stays queued until a getUpdates call passes a higher ``offset``; a new
    getUpdates call terminates a pending one with 409 Conflict (two bot instances polling).
    """

    def __init__(self, update_types: Iterable[str]) -> None:
        self.signal = Signal()
        self.known_types = frozenset(update_types)
        self.allowed = self.known_types - OPT_IN_UPDATE_TYPES
        self.closed = False
        self._pending: list[JsonDict] = []
        self._ids = itertools.count(100_000_001)
        self._generation = 0

    def push(self, kind: str, payload: JsonDict) -> JsonDict:
        update = {"update_id": next(self._ids), kind: payload}
        self._pending.append(update)
        self.signal.notify()
        return update

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def clear(self) -> None:
        self._pending.clear()

    def set_allowed(self, kinds: list[str]) -> None:
        unknown = sorted(set(kinds) - self.known_types)
        if unknown:
            raise bad_request(f"allowed_updates: unknown update type {unknown[0]!r}")
        self.allowed = frozenset(kinds) or self.known_types - OPT_IN_UPDATE_TYPES

    def confirm(self, offset: int) -> None:
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]

    def confirm_one(self, update_id: int) -> None:
        """One update delivered (a webhook with several connections confirms each)."""
        self._pending = [u for u in self._pending if u["update_id"] != update_id]

    def next_after(self, skip: set[int]) -> JsonDict | None:
        """The oldest update of an allowed type not among ``skip`` (those in flight)."""
        self._pending = [u for u in self._pending if self._kind(u) in self.allowed]
        update = next((u for u in self._pending if u["update_id"] not in skip), None)
        return copy.deepcopy(update) if update is not None else None

    def next_available(self) -> JsonDict | None:
        """The oldest update of an allowed type, for webhook delivery (one per request)."""
        found = self._available(1)
        return found[0] if found else None

    def _available(self, limit: int) -> list[JsonDict] | None:
        self._pending = [u for u in self._pending if self._kind(u) in self.allowed]
        return copy.deepcopy(self._pending[:limit]) or None

    @staticmethod
    def _kind(update: JsonDict) -> str:
        return next(key for key in update if key != "update_id")

    async def poll(self, offset: int, limit: int, timeout: float) -> list[JsonDict]:
        """Long-poll: return as soon as an update is available, or [] after ``timeout``."""
        self.confirm(offset)
        self._generation += 1
        generation = self._generation
        self.signal.notify()  # wake (and thereby terminate) an older poll

        def probe() -> list[JsonDict] | None:
            if generation != self._generation:
                return _SUPERSEDED
            return [] if self.closed else self._available(limit)

        try:
            result = probe() if timeout <= 0 else await self.signal.wait_until(probe, timeout)
        except TimeoutError:
            result = []
        if result is _SUPERSEDED:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one "
                "bot instance is running",
            )
        return result or []


class World:
    """Everything the fake Telegram knows. Both the HTTP handlers and the simulated users
    operate on one instance."""

    def __init__(self, token: str, bot: FakeUser, update_types: Iterable[str]) -> None:
        self.token = token
        self.bot = bot
        self.privacy_mode = True
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.messages: dict[int, dict[int, MessageRecord]] = {}
        self.files: dict[str, StoredFile] = {}
        self.calls: list[tuple[str, JsonDict]] = []
        self.errors: list[RecordedError] = []
        self.pending_callbacks: dict[str, JsonDict] = {}
        self.answered_callbacks: dict[str, JsonDict] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.commands: dict[str, list[JsonDict]] = {}
        self.settings: dict[str, JsonDict] = {}
        self.webhook: JsonDict | None = None
        self.webhook_secret: str | None = None  # sent with deliveries, never reported back
        self.consumed: dict[int, set[int]] = {}
        # method -> seconds each call takes before it is answered: a Bot API slow to reply
        self.latency: dict[str, float] = {}
        self.updates = UpdateQueue(update_types)
        self.bot_output = Signal()
        # Called with (chat_id, message) for every stored message: a cheap hook for load
        # generators, which cannot afford one re-probing waiter per outstanding message.
        self.message_listeners: list[Callable[[int, JsonDict], None]] = []
        self._user_ids = itertools.count(7_000_000_001)
        self._group_ids = itertools.count(4_000_000_001)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(5_000_000_000_000_000_001)
        self._next_message_id: dict[int, int] = {}

    def new_user_id(self) -> int:
        return next(self._user_ids)

    def new_chat_id(self, chat_type: ChatType) -> int:
        """Basic groups are negative; supergroups and channels are ``-100`` prefixed."""
        number = next(self._group_ids)
        return -number if chat_type == "group" else -(10**12 + number)

    def new_callback_id(self) -> str:
        return str(next(self._callback_ids))

    def add_chat(self, chat: FakeChat) -> FakeChat:
        chat.chat_instance = chat.chat_instance or str(abs(hash((self.token, chat.id))))
        self.chats[chat.id] = chat
        self.messages.setdefault(chat.id, {})
        return chat

    def chat_by_ref(self, ref: int | str) -> FakeChat:
        """Resolve a ``chat_id`` parameter: a numeric id or ``@username``."""
        if isinstance(ref, str) and ref.startswith("@"):
            name = ref[1:].lower()
            for chat in self.chats.values():
                if (chat.username or "").lower() == name:
                    return chat
        elif isinstance(ref, int | str) and str(ref).lstrip("-").isdigit():
            found = self.chats.get(int(ref))
            if found is not None:
                return found
        raise bad_request("chat not found")

    def new_message(self, chat: FakeChat, sender: FakeUser | None, content: JsonDict) -> JsonDict:
        """A Message with the next per-chat id. Channel posts have ``sender_chat`` instead
        of ``from``."""
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        message: JsonDict = {"message_id": message_id, "date": now(), "chat": chat.to_api()}
        if sender is not None:
            message["from"] = sender.to_api()
        else:
            message["sender_chat"] = chat.to_api()
        message.update(content)
        return message

    def store_message(self, chat: FakeChat, record: MessageRecord) -> MessageRecord:
        self.messages[chat.id][record.message["message_id"]] = record
        for listener in self.message_listeners:
            listener(chat.id, record.message)
        self.bot_output.notify()
        return record

    def find_message(self, chat_id: int, message_id: int) -> MessageRecord | None:
        record = self.messages.get(chat_id, {}).get(message_id)
        return None if record is None or record.deleted else record

    def store_file(
        self,
        data: bytes,
        filename: str | None,
        mime: str | None,
        kind: str,
        size: tuple[int, int] | None = None,
    ) -> StoredFile:
        """Keep file bytes under a fresh file_id/file_path; ``kind`` is photo, document..."""
        number = next(self._file_ids)
        extension = (mimetypes.guess_extension(mime or "") or ".bin").lstrip(".")
        stored = StoredFile(
            file_id=f"FAKE{kind.upper()}{number:06d}{abs(hash((self.token, number))) % 10**9}",
            file_unique_id=f"U{kind[:3].upper()}{number:06d}",
            file_path=f"{kind}s/file_{number}.{extension}",
            data=data,
            filename=filename,
            mime_type=mime,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_by_path(self, path: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.file_path == path), None)
