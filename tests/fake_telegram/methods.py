"""Bot API method implementations of the fake server.

Each handler receives parameters that :mod:`.spec` has already decoded and validated, and
returns the ``result`` Telegram would return. The behaviour that bots commonly get wrong is
reproduced on purpose: editing without ``reply_markup`` removes the inline keyboard, an edit
that changes nothing fails with "message is not modified", a callback query can be answered
once, replies to missing messages fail, and photos must be real images.
"""

from __future__ import annotations

import copy
import io
import json
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import ApiError, bad_request, forbidden
from .formatting import parse_text
from .limits import MAX_DOCUMENT_BYTES, MAX_PHOTO_BYTES, check_text
from .spec import UploadedFile
from .state import FakeChat, FakeUser, JsonDict, MessageRecord, StoredFile, World, now

Handler = Callable[[World, JsonDict], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}

HARMLESS_METHODS = frozenset(
    {
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
        "setChatMenuButton",
        "setMyDefaultAdministratorRights",
    }
)
"""Bot-profile setters with no effect on conversations: accepted (after validation) and
stored in ``server.settings`` so tests can assert them."""

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
}


def api_method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under the method's canonical camelCase name."""

    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


async def harmless(world: World, params: JsonDict, method: str) -> bool:
    world.settings[method] = params
    return True


# --- bot identity, updates and webhooks ------------------------------------------------------


@api_method("getMe")
async def get_me(world: World, params: JsonDict) -> JsonDict:
    return {
        **world.bot.to_api(),
        "can_join_groups": True,
        "can_read_all_group_messages": not world.privacy_mode,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("getUpdates")
async def get_updates(world: World, params: JsonDict) -> list[JsonDict]:
    if world.webhook:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
            "to delete the webhook first",
        )
    if "allowed_updates" in params:
        world.updates.set_allowed(params["allowed_updates"])
    limit = min(max(params.get("limit", 100), 1), 100)  # Telegram clamps silently
    timeout = max(params.get("timeout", 0), 0)
    return await world.updates.poll(params.get("offset", 0), limit, timeout)


@api_method("setWebhook")
async def set_webhook(world: World, params: JsonDict) -> bool:
    if not params["url"]:
        return await delete_webhook(world, params)
    if not params["url"].startswith("https://"):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    world.webhook = {k: v for k, v in params.items() if k not in ("certificate", "secret_token")}
    world.webhook_secret = params.get("secret_token")
    world.updates.signal.notify()  # wake the delivery loop
    if params.get("drop_pending_updates"):
        world.updates.clear()
    return True


@api_method("deleteWebhook")
async def delete_webhook(world: World, params: JsonDict) -> bool:
    world.webhook = None
    world.webhook_secret = None
    if params.get("drop_pending_updates"):
        world.updates.clear()
    return True


@api_method("getWebhookInfo")
async def get_webhook_info(world: World, params: JsonDict) -> JsonDict:
    info: JsonDict = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": world.updates.pending_count,
    }
    return {**info, **(world.webhook or {})}


@api_method("logOut")
@api_method("close")
async def log_out(world: World, params: JsonDict) -> bool:
    return True


# --- commands --------------------------------------------------------------------------------


def _commands_key(params: JsonDict) -> str:
    scope = params.get("scope", {"type": "default"})
    return f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code', '')}"


@api_method("setMyCommands")
async def set_my_commands(world: World, params: JsonDict) -> bool:
    world.commands[_commands_key(params)] = params["commands"]
    return True


@api_method("getMyCommands")
async def get_my_commands(world: World, params: JsonDict) -> list[JsonDict]:
    return copy.deepcopy(world.commands.get(_commands_key(params), []))


@api_method("deleteMyCommands")
async def delete_my_commands(world: World, params: JsonDict) -> bool:
    world.commands.pop(_commands_key(params), None)
    return True


# --- sending ---------------------------------------------------------------------------------


def writable_chat(world: World, params: JsonDict) -> FakeChat:
    """The target chat, or the 403/400 Telegram gives when the bot may not post there."""
    chat = world.chat_by_ref(params["chat_id"])
    if chat.bot_blocked and chat.type == "private":
        raise forbidden("bot was blocked by the user")
    if chat.bot_blocked:
        raise forbidden(f"bot was kicked from the {chat.type} chat")
    if chat.type == "channel" and not chat.bot_is_admin:
        raise bad_request("need administrator rights in the channel chat")
    return chat


def formatted(params: JsonDict, field: str, entities_field: str) -> JsonDict:
    """Parse text/caption with parse_mode like Telegram and enforce the length limits."""
    text, entities = parse_text(
        params[field].strip(), params.get("parse_mode"), params.get(entities_field)
    )
    check_text(text, field)
    return {field: text, entities_field: entities} if entities else {field: text}


def _reply_content(world: World, chat: FakeChat, params: JsonDict) -> JsonDict:
    reply = params.get("reply_parameters")
    if reply is None:
        return {}
    target_chat = world.chat_by_ref(reply["chat_id"]) if "chat_id" in reply else chat
    record = world.find_message(target_chat.id, reply["message_id"])
    if record is not None:
        original = {k: v for k, v in record.message.items() if k != "reply_to_message"}
        return {"reply_to_message": copy.deepcopy(original)}
    if reply.get("allow_sending_without_reply"):
        return {}
    raise bad_request("message to be replied not found")


def _inline_markup(params: JsonDict) -> JsonDict:
    """Only inline keyboards are part of the returned Message; reply keyboards are not."""
    markup = params.get("reply_markup")
    return {"reply_markup": markup} if markup and "inline_keyboard" in markup else {}


def _extras(params: JsonDict) -> JsonDict:
    extras: JsonDict = {}
    if "link_preview_options" in params:
        extras["link_preview_options"] = params["link_preview_options"]
    if params.get("protect_content"):
        extras["has_protected_content"] = True
    return extras


def send(
    world: World, params: JsonDict, content: JsonDict, upload: StoredFile | None = None
) -> JsonDict:
    """Create, store and return a message from the bot."""
    chat = writable_chat(world, params)
    content = {**content, **_reply_content(world, chat, params), **_extras(params)}
    message = world.new_message(chat, world.bot, {**content, **_inline_markup(params)})
    world.store_message(chat, MessageRecord(message, True, request=params, upload=upload))
    return copy.deepcopy(message)


@api_method("sendMessage")
async def send_message(world: World, params: JsonDict) -> JsonDict:
    return send(world, params, formatted(params, "text", "entities"))


def _caption(params: JsonDict) -> JsonDict:
    return formatted(params, "caption", "caption_entities") if params.get("caption") else {}


def inspect_image(data: bytes) -> tuple[tuple[int, int], str]:
    """Telegram re-encodes photos, so anything that is not a decodable image fails. Returns
    the size and the real MIME type (PTB uploads raw bytes as application/octet-stream)."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            size, mime = image.size, image.get_format_mimetype() or "image/jpeg"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise bad_request("IMAGE_PROCESS_FAILED") from exc
    width, height = size
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return size, mime


def _existing_file(world: World, ref: str, kind: str) -> StoredFile:
    """A file_id sent earlier, or a URL (which Telegram would download; here it is a stub)."""
    if ref in world.files:
        return world.files[ref]
    if ref.startswith(("http://", "https://")):
        name = ref.rstrip("/").rpartition("/")[2] or kind
        return world.store_file(b"", name, mimetypes.guess_type(name)[0], kind, (800, 600))
    raise bad_request("wrong file identifier/HTTP URL specified")


def _stored_upload(world: World, value: UploadedFile | str, kind: str, limit: int) -> StoredFile:
    if isinstance(value, str):
        return _existing_file(world, value, kind)
    if not value.data:
        raise bad_request("file must be non-empty")
    if len(value.data) > limit:
        raise ApiError(413, "Request Entity Too Large")
    if kind == "photo":
        size, mime = inspect_image(value.data)
        return world.store_file(value.data, value.filename, mime, kind, size)
    mime = mimetypes.guess_type(value.filename)[0] or value.content_type
    return world.store_file(value.data, value.filename, mime, kind)


def photo_size(stored: StoredFile) -> JsonDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": stored.width or 0,
        "height": stored.height or 0,
        "file_size": len(stored.data),
    }


def document(stored: StoredFile) -> JsonDict:
    data: JsonDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
    if stored.filename:
        data["file_name"] = stored.filename
    if stored.mime_type:
        data["mime_type"] = stored.mime_type
    return {**data, "file_size": len(stored.data)}


@api_method("sendPhoto")
async def send_photo(world: World, params: JsonDict) -> JsonDict:
    writable_chat(world, params)  # fail before storing the file
    stored = _stored_upload(world, params["photo"], "photo", MAX_PHOTO_BYTES)
    content = {"photo": [photo_size(stored)], **_caption(params)}
    return send(world, params, content, upload=stored)


@api_method("sendDocument")
async def send_document(world: World, params: JsonDict) -> JsonDict:
    writable_chat(world, params)
    stored = _stored_upload(world, params["document"], "document", MAX_DOCUMENT_BYTES)
    content = {"document": document(stored), **_caption(params)}
    return send(world, params, content, upload=stored)


@api_method("sendChatAction")
async def send_chat_action(world: World, params: JsonDict) -> bool:
    chat = writable_chat(world, params)
    world.chat_actions.append((chat.id, params["action"]))
    return True


# --- editing and deleting --------------------------------------------------------------------


def _editable(world: World, params: JsonDict) -> MessageRecord:
    if "inline_message_id" in params:
        raise bad_request("inline_message_id is not supported by the fake server")
    if "chat_id" not in params or "message_id" not in params:
        raise bad_request("message identifier is not specified")
    chat = world.chat_by_ref(params["chat_id"])
    record = world.find_message(chat.id, params["message_id"])
    if record is None:
        raise bad_request("message to edit not found")
    if not record.from_bot:
        raise bad_request("message can't be edited")
    return record


def apply_edit(
    world: World,
    record: MessageRecord,
    remove: tuple[str, ...],
    replace: JsonDict,
    params: JsonDict,
) -> JsonDict:
    """Replace fields of a message, keeping the previous version in ``history``."""
    updated = {k: v for k, v in record.message.items() if k not in (*remove, "edit_date")}
    updated.update(replace)
    previous = {k: v for k, v in record.message.items() if k != "edit_date"}
    if updated == previous:
        raise bad_request(NOT_MODIFIED)
    updated["edit_date"] = now()
    record.history.append(record.message)
    record.message, record.request = updated, params
    world.bot_output.notify()
    return copy.deepcopy(updated)


@api_method("editMessageText")
async def edit_message_text(world: World, params: JsonDict) -> JsonDict:
    record = _editable(world, params)
    if "text" not in record.message:
        raise bad_request("there is no text in the message to edit")
    replace = {**formatted(params, "text", "entities"), **_inline_markup(params)}
    replace.update(_extras(params))
    remove = ("text", "entities", "reply_markup", "link_preview_options")
    return apply_edit(world, record, remove, replace, params)


@api_method("editMessageCaption")
async def edit_message_caption(world: World, params: JsonDict) -> JsonDict:
    record = _editable(world, params)
    if not {"photo", "document"} & record.message.keys():
        raise bad_request("there is no caption in the message to edit")
    replace = {**_caption(params), **_inline_markup(params)}
    remove = ("caption", "caption_entities", "reply_markup")
    return apply_edit(world, record, remove, replace, params)


@api_method("editMessageReplyMarkup")
async def edit_message_reply_markup(world: World, params: JsonDict) -> JsonDict:
    record = _editable(world, params)
    return apply_edit(world, record, ("reply_markup",), _inline_markup(params), params)


@api_method("deleteMessage")
async def delete_message(world: World, params: JsonDict) -> bool:
    chat = world.chat_by_ref(params["chat_id"])
    record = world.find_message(chat.id, params["message_id"])
    if record is None:
        raise bad_request("message to delete not found")
    if not record.from_bot and chat.type != "private" and not chat.bot_is_admin:
        raise bad_request("message can't be deleted")
    record.deleted = True
    world.bot_output.notify()
    return True


@api_method("setMessageReaction")
async def set_message_reaction(world: World, params: JsonDict) -> bool:
    chat = world.chat_by_ref(params["chat_id"])
    record = world.find_message(chat.id, params["message_id"])
    if record is None:
        raise bad_request("MESSAGE_ID_INVALID")
    record.reactions = params.get("reaction", [])
    world.bot_output.notify()
    return True


# --- callback queries, chats and files -------------------------------------------------------


@api_method("answerCallbackQuery")
async def answer_callback_query(world: World, params: JsonDict) -> bool:
    query_id = params["callback_query_id"]
    if world.pending_callbacks.pop(query_id, None) is None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    world.answered_callbacks[query_id] = params
    return True


@api_method("getChat")
async def get_chat(world: World, params: JsonDict) -> JsonDict:
    return world.chat_by_ref(params["chat_id"]).full_info()


def _status(world: World, chat: FakeChat, user: FakeUser) -> str:
    if user.id == world.bot.id:
        return "kicked" if chat.bot_blocked else "administrator" if chat.bot_is_admin else "member"
    if user.id == chat.owner_id:
        return "creator"
    if user.id in chat.admin_ids:
        return "administrator"
    return "member" if user.id in chat.members else "left"


def _member(world: World, chat: FakeChat, user: FakeUser) -> JsonDict:
    """The ChatMember subtype for the user's status, with the fields PTB requires."""
    status = _status(world, chat, user)
    by_status: dict[str, JsonDict] = {
        "creator": {"is_anonymous": False},
        "administrator": _ADMIN_RIGHTS,
        "kicked": {"until_date": 0},
    }
    extra = by_status.get(status, {})
    return {"status": status, "user": user.to_api(), **extra}


@api_method("getChatMember")
async def get_chat_member(world: World, params: JsonDict) -> JsonDict:
    chat = world.chat_by_ref(params["chat_id"])
    user = world.bot if params["user_id"] == world.bot.id else world.users.get(params["user_id"])
    if user is None:
        raise bad_request("user not found")
    return _member(world, chat, user)


@api_method("getChatAdministrators")
async def get_chat_administrators(world: World, params: JsonDict) -> list[JsonDict]:
    chat = world.chat_by_ref(params["chat_id"])
    if chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    ids = [i for i in (chat.owner_id, *sorted(chat.admin_ids)) if i is not None]
    admins = [_member(world, chat, world.users[i]) for i in dict.fromkeys(ids)]
    if chat.bot_is_admin:
        admins.append(_member(world, chat, world.bot))
    return admins


@api_method("getFile")
async def get_file(world: World, params: JsonDict) -> JsonDict:
    stored = world.files.get(params["file_id"])
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.data) > 20 * 1024 * 1024:
        raise bad_request("file is too big")
    return stored.to_api()
