"""The user side of the fake Telegram: simulated people produce updates, tests observe the bot.

Why a mixin on the server: tests want one object (``tg``) to both act as users
(``tg.send_text(chat, alice, "/start")``) and inspect what the bot did
(``await tg.wait_for_bot_message(chat)``); keeping that code here keeps the HTTP server small.

All actions are synchronous: they append an update that a pending ``getUpdates`` long poll
receives immediately. All ``wait_for_*`` helpers are event-driven (no sleep loops) and raise
``TimeoutError`` with the bot's messages and recorded API errors, so a failing test explains
itself.
"""

from __future__ import annotations

import copy
import struct
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from .formatting import auto_entities
from .methods import document, inspect_image, photo_size
from .state import ChatType, FakeChat, FakeUser, JsonDict, MessageRecord, World, now

ChatRef = FakeChat | int
MessageRef = JsonDict | int
Predicate = Callable[[JsonDict], bool]


def tiny_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    """A valid solid-colour PNG built with the standard library, for photo uploads."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(row * height)),
            chunk(b"IEND", b""),
        )
    )


# The placeholder users of messages sent on behalf of a chat (see send_text_as_chat).
ANONYMOUS_ADMIN_ID, TELEGRAM_SERVICE_ID = 1087968824, 777000


class UserSimulation:
    """Simulated users and chats, plus helpers to await and inspect the bot's output.

    Expects ``self.world`` (a :class:`~.state.World`) to be set by the subclass.
    """

    world: World

    # --- people and chats --------------------------------------------------------------------

    def create_user(
        self,
        first_name: str,
        *,
        language_code: str | None = "ko",
        username: str | None = None,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> FakeUser:
        """A human Telegram account; ids are allocated automatically unless given."""
        user = FakeUser(
            user_id or self.world.new_user_id(), first_name, last_name, username, language_code
        )
        self.world.users[user.id] = user
        return user

    def private_chat(self, user: FakeUser) -> FakeChat:
        """The user's private chat with the bot (its id equals the user's id)."""
        existing = self.world.chats.get(user.id)
        if existing is not None:
            return existing
        return self.world.add_chat(FakeChat(user.id, "private", peer=user, members={user.id: user}))

    def group_chat(
        self,
        title: str,
        members: Iterable[FakeUser],
        *,
        admins: Iterable[FakeUser] = (),
        owner: FakeUser | None = None,
        supergroup: bool = False,
        username: str | None = None,
        bot_is_admin: bool = False,
    ) -> FakeChat:
        """A group the bot is a member of. ``owner`` defaults to the first member; in privacy
        mode a non-admin bot only sees commands and replies to its own messages."""
        people = list(members)
        chat_type: ChatType = "supergroup" if supergroup else "group"
        chat = FakeChat(
            self.world.new_chat_id(chat_type),
            chat_type,
            title=title,
            username=username,
            members={u.id: u for u in people},
            bot_is_admin=bot_is_admin,
        )
        self.set_admins(chat, admins, owner=owner or (people[0] if people else None))
        return self.world.add_chat(chat)

    def channel(self, title: str, *, username: str | None = None) -> FakeChat:
        """A channel where the bot is an administrator (required to post there)."""
        chat = FakeChat(
            self.world.new_chat_id("channel"),
            "channel",
            title=title,
            username=username,
            bot_is_admin=True,
        )
        return self.world.add_chat(chat)

    def set_admins(
        self, chat: ChatRef, admins: Iterable[FakeUser], *, owner: FakeUser | None = None
    ) -> None:
        """Configure who getChatAdministrators/getChatMember report as owner and admins."""
        target = self._chat(chat)
        if owner is not None:
            target.owner_id = owner.id
        target.admin_ids = {u.id for u in admins} - {target.owner_id}

    def block_bot(self, chat: ChatRef, blocked: bool = True) -> None:
        """The user blocks the bot (private chat) or removes it (group): sends get 403."""
        self._chat(chat).bot_blocked = blocked

    # --- incoming traffic --------------------------------------------------------------------

    def send_text(
        self, chat: ChatRef, user: FakeUser, text: str, *, reply_to: MessageRef | None = None
    ) -> JsonDict:
        """A text message; ``/commands`` (also ``/cmd@bot``), mentions and URLs get entities
        with UTF-16 offsets, as Telegram adds them."""
        content: JsonDict = {"text": text}
        if entities := auto_entities(text):
            content["entities"] = entities
        return self._user_message(chat, user, content, reply_to)

    def send_text_as_chat(self, chat: ChatRef, text: str, *, as_chat: ChatRef) -> JsonDict:
        """A message sent on behalf of a chat, as Telegram delivers it: an anonymous admin
        posting as the group itself (``as_chat`` = the group) comes from the placeholder
        user GroupAnonymousBot (1087968824); a linked channel's post, forwarded into its
        discussion group, from the service account Telegram (777000). ``sender_chat`` says
        which chat it really is."""
        target, sender_chat = self._chat(chat), self._chat(as_chat)
        anonymous_admin = sender_chat.id == target.id
        placeholder = (
            FakeUser(ANONYMOUS_ADMIN_ID, "Group", username="GroupAnonymousBot", is_bot=True)
            if anonymous_admin
            else FakeUser(TELEGRAM_SERVICE_ID, "Telegram")
        )
        content: JsonDict = {"text": text, "sender_chat": sender_chat.to_api()}
        if entities := auto_entities(text):
            content["entities"] = entities
        if not anonymous_admin:
            content["is_automatic_forward"] = True
        message = self.world.new_message(target, placeholder, content)
        self.world.store_message(target, MessageRecord(message, False, delivered=True))
        self.world.updates.push("message", copy.deepcopy(message))
        return copy.deepcopy(message)

    def reply_to(self, chat: ChatRef, user: FakeUser, text: str, message: MessageRef) -> JsonDict:
        """A text message replying to ``message`` (a bot or user message)."""
        return self.send_text(chat, user, text, reply_to=message)

    def send_sticker(self, chat: ChatRef, user: FakeUser, emoji: str = "😀") -> JsonDict:
        """A regular 512x512 sticker; handlers usually only look at ``sticker.emoji``."""
        stored = self.world.store_file(
            b"RIFF\x00\x00\x00\x00WEBP", "sticker.webp", "image/webp", "sticker", (512, 512)
        )
        sticker = {
            **photo_size(stored),
            "type": "regular",
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._user_message(chat, user, {"sticker": sticker}, None)

    def send_photo(
        self,
        chat: ChatRef,
        user: FakeUser,
        data: bytes | None = None,
        *,
        caption: str | None = None,
        size: tuple[int, int] = (4, 3),
    ) -> JsonDict:
        """A photo from the user (``data`` or a generated PNG of ``size``); the bytes are
        downloadable by the bot via getFile + base_file_url."""
        image = data if data is not None else tiny_png(*size)
        dimensions, mime = inspect_image(image)
        stored = self.world.store_file(image, "photo", mime, "photo", dimensions)
        content: JsonDict = {"photo": [photo_size(stored)]}
        return self._user_message(chat, user, {**content, **_caption(caption)}, None)

    def send_document(
        self,
        chat: ChatRef,
        user: FakeUser,
        data: bytes,
        filename: str,
        mime_type: str = "application/octet-stream",
        *,
        caption: str | None = None,
    ) -> JsonDict:
        """A file from the user, e.g. a CSV of sentences to analyse."""
        stored = self.world.store_file(data, filename, mime_type, "document")
        content = {"document": document(stored), **_caption(caption)}
        return self._user_message(chat, user, content, None)

    def edit_text(
        self, chat: ChatRef, user: FakeUser | None, message: MessageRef, text: str
    ) -> JsonDict:
        """The author edits a text message: an ``edited_message`` (or
        ``edited_channel_post``) update carrying the new text and ``edit_date``."""
        target = self._chat(chat)
        record = self._record(target, message)
        author = record.message.get("from", {}).get("id")
        if user is not None and author != user.id:
            raise ValueError(f"message {record.message['message_id']} is not from {user}")
        if "text" not in record.message:
            raise ValueError("only text messages can be edited by simulated users")
        record.history.append(record.message)
        edited = {k: v for k, v in record.message.items() if k not in ("text", "entities")}
        edited.update({"text": text, "edit_date": now()})
        if entities := auto_entities(text):
            edited["entities"] = entities
        record.message = edited
        kind = "edited_channel_post" if target.type == "channel" else "edited_message"
        if record.delivered:
            self.world.updates.push(kind, copy.deepcopy(edited))
        return copy.deepcopy(edited)

    def channel_post(self, chat: ChatRef, text: str) -> JsonDict:
        """A post in a channel (``sender_chat`` instead of ``from``)."""
        target = self._chat(chat)
        if target.type != "channel":
            raise ValueError(f"chat {target.id} is not a channel")
        message = self.world.new_message(target, None, {"text": text})
        self.world.store_message(target, MessageRecord(message, from_bot=False))
        self.world.updates.push("channel_post", copy.deepcopy(message))
        return copy.deepcopy(message)

    def press_button(
        self,
        chat: ChatRef,
        user: FakeUser,
        message: MessageRef,
        callback_data: str | None = None,
        *,
        text: str | None = None,
    ) -> str:
        """Press an inline button of a bot message, found by ``callback_data`` or by its
        ``text``; raises LookupError if the message (as currently shown) has no such button.
        Returns the callback query id."""
        target = self._chat(chat)
        record = self._record(target, message)
        rows = record.message.get("reply_markup", {}).get("inline_keyboard", [])
        buttons = [b for row in rows for b in row if "callback_data" in b]
        for button in buttons:
            if button["callback_data"] == callback_data or (text and button["text"] == text):
                return self.send_callback_query(target, user, message, button["callback_data"])
        raise LookupError(
            f"message {record.message['message_id']} has no button "
            f"{callback_data or text!r}; buttons: {buttons}"
        )

    def send_callback_query(
        self, chat: ChatRef, user: FakeUser, message: MessageRef, data: str
    ) -> str:
        """A forged callback query with arbitrary ``data`` (no keyboard check), as a
        malicious client can send. A deleted/unknown message becomes InaccessibleMessage."""
        target = self._chat(chat)
        message_id = message if isinstance(message, int) else message["message_id"]
        record = self.world.find_message(target.id, message_id)
        shown = copy.deepcopy(record.message) if record else None
        query_id = self.world.new_callback_id()
        query: JsonDict = {
            "id": query_id,
            "from": user.to_api(),
            "message": shown or {"chat": target.to_api(), "message_id": message_id, "date": 0},
            "chat_instance": target.chat_instance,
            "data": data,
        }
        self.world.pending_callbacks[query_id] = query
        self.world.updates.push("callback_query", copy.deepcopy(query))
        return query_id

    # --- observing the bot -------------------------------------------------------------------

    def bot_messages(self, chat: ChatRef) -> list[JsonDict]:
        """Snapshots of everything the bot sent to the chat, oldest first (deleted ones are
        included with ``deleted: True``)."""
        return [r.snapshot() for r in self._bot_records(self._chat_id(chat))]

    def bot_message(self, chat: ChatRef, message_id: int) -> JsonDict:
        """The current state of one message (bot or user)."""
        return self.world.messages[self._chat_id(chat)][message_id].snapshot()

    async def wait_for_bot_message(
        self, chat: ChatRef, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> JsonDict:
        """The oldest bot message in the chat not returned by an earlier call and matching
        ``predicate`` (evaluated on the current snapshot, so edits made meanwhile count).

        The snapshot has the Bot API message fields plus ``edit_history``, ``deleted``,
        ``upload`` ({data, filename, mime_type, file_id} for photos/documents), ``reactions``
        and ``request`` (the decoded parameters of the call that produced this version).
        """
        chat_id = self._chat_id(chat)
        consumed = self.world.consumed.setdefault(chat_id, set())

        def probe() -> JsonDict | None:
            for record in self._bot_records(chat_id):
                if record.message["message_id"] in consumed:
                    continue
                snapshot = record.snapshot()
                if predicate is None or predicate(snapshot):
                    consumed.add(record.message["message_id"])
                    return snapshot
            return None

        return await self._wait(probe, timeout, f"a bot message in chat {chat_id}", chat_id)

    async def wait_for_message(
        self, message: JsonDict, predicate: Predicate, timeout: float = 10.0
    ) -> JsonDict:
        """Wait until the current snapshot of ``message`` satisfies ``predicate`` (e.g.
        ``lambda m: m["deleted"]``)."""
        chat_id, message_id = message["chat"]["id"], message["message_id"]

        def probe() -> JsonDict | None:
            snapshot = self.world.messages[chat_id][message_id].snapshot()
            return snapshot if predicate(snapshot) else None

        return await self._wait(probe, timeout, f"message {message_id} to change", chat_id)

    async def wait_for_edit(
        self, message: JsonDict, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> JsonDict:
        """Wait for an edit made after ``message`` was captured (a snapshot or an API
        result); with ``predicate``, for the first later version satisfying it."""
        seen = len(message.get("edit_history", [])) if "edit_history" in message else None
        if seen is None:  # a plain Message: count the versions that existed at edit_date
            seen = len(self.world.messages[message["chat"]["id"]][message["message_id"]].history)

        def edited(snapshot: JsonDict) -> bool:
            return len(snapshot["edit_history"]) > seen and (
                predicate is None or predicate(snapshot)
            )

        return await self.wait_for_message(message, edited, timeout)

    async def wait_for_callback_answer(self, query_id: str, timeout: float = 10.0) -> JsonDict:
        """The parameters of the bot's answerCallbackQuery for ``query_id``."""
        return await self._wait(
            lambda: self.world.answered_callbacks.get(query_id),
            timeout,
            f"an answer to callback query {query_id}",
            None,
        )

    async def wait_for_call(
        self, method: str, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> JsonDict:
        """The parameters of the first successful-or-not call to ``method`` matching
        ``predicate`` (e.g. ``sendChatAction``)."""

        def probe() -> JsonDict | None:
            for name, params in self.world.calls:
                if name.lower() == method.lower() and (predicate is None or predicate(params)):
                    return params
            return None

        return await self._wait(probe, timeout, f"a {method} call", None)

    # --- internals ---------------------------------------------------------------------------

    async def _wait(
        self, probe: Callable[[], Any], timeout: float, what: str, chat_id: int | None
    ) -> Any:
        try:
            return await self.world.bot_output.wait_until(probe, timeout)
        except TimeoutError:
            sent = self.bot_messages(chat_id) if chat_id is not None else []
            summary = [(m["message_id"], m.get("text") or m.get("caption")) for m in sent]
            errors = [str(e) for e in self.world.errors]
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what}; bot messages there: {summary}; "
                f"API errors: {errors}"
            ) from None

    def _chat(self, chat: ChatRef) -> FakeChat:
        return chat if isinstance(chat, FakeChat) else self.world.chats[chat]

    def _chat_id(self, chat: ChatRef) -> int:
        return chat.id if isinstance(chat, FakeChat) else chat

    def _record(self, chat: FakeChat, message: MessageRef) -> MessageRecord:
        message_id = message if isinstance(message, int) else message["message_id"]
        record = self.world.find_message(chat.id, message_id)
        if record is None:
            raise LookupError(f"no message {message_id} in chat {chat.id}")
        return record

    def _bot_records(self, chat_id: int) -> list[MessageRecord]:
        return [r for r in self.world.messages.get(chat_id, {}).values() if r.from_bot]

    def _user_message(
        self, chat: ChatRef, user: FakeUser, content: JsonDict, reply_to: MessageRef | None
    ) -> JsonDict:
        target = self._chat(chat)
        if user.id not in target.members:
            raise ValueError(f"{user.first_name} is not a member of chat {target.id}")
        if reply_to is not None:
            original = self._record(target, reply_to).message
            content["reply_to_message"] = {
                k: copy.deepcopy(v) for k, v in original.items() if k != "reply_to_message"
            }
        message = self.world.new_message(target, user, content)
        delivered = self._visible_to_bot(target, message)
        self.world.store_message(target, MessageRecord(message, False, delivered=delivered))
        if delivered:
            self.world.updates.push("message", copy.deepcopy(message))
        return copy.deepcopy(message)

    def _visible_to_bot(self, chat: FakeChat, message: JsonDict) -> bool:
        """Privacy mode: in groups a non-admin bot only receives commands addressed to it (or
        to no bot in particular) and replies to its own messages."""
        if chat.type == "private" or not self.world.privacy_mode or chat.bot_is_admin:
            return True
        replied = message.get("reply_to_message", {}).get("from", {})
        if replied.get("id") == self.world.bot.id:
            return True
        text = message.get("text") or message.get("caption") or ""
        if not text.startswith("/"):
            return False
        command = text.split(maxsplit=1)[0]
        target = command.partition("@")[2].lower()
        return not target or target == (self.world.bot.username or "").lower()


def _caption(caption: str | None) -> JsonDict:
    if caption is None:
        return {}
    entities = auto_entities(caption)
    return {"caption": caption, **({"caption_entities": entities} if entities else {})}
