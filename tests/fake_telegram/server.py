"""A fake Telegram Bot API server on loopback for end-to-end tests of the real bot.

Why not an existing emulator: telegram-test-api cannot run a python-telegram-bot 22 bot (no
``is_bot`` in getMe, dates in milliseconds, callback queries without ``chat_instance``, edits
returning null, nine methods). This server speaks real HTTP, validates every request against
the official Bot API description (:mod:`.spec`) and Telegram's limits (:mod:`.limits`), and
records every failure in :attr:`FakeTelegramServer.errors` so a fixture can fail the test when
the bot sent something Telegram would reject.

Routes: ``/bot<token>/<method>`` (GET or POST; query string, form, multipart or JSON) and
``/file/bot<token>/<file_path>`` for downloads after getFile.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_TYPE

from .client import UserSimulation
from .errors import ApiError, RecordedError, bad_request
from .limits import METHOD_CHECKS, object_checks
from .methods import HANDLERS, HARMLESS_METHODS, harmless
from .spec import BotApiSpec, MethodSpec, ParamDecoder, UploadedFile, load_spec
from .state import FakeUser, JsonDict, World
from .webhook import WebhookDelivery

DEFAULT_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
_MAX_BODY = 60 * 1024 * 1024
_dumps = functools.partial(json.dumps, ensure_ascii=False)


class InjectedError(ApiError):
    """A failure a test asked for (e.g. 429 flood wait); not recorded in ``errors``."""


class FakeTelegramServer(UserSimulation):
    """Fake Bot API for one bot token; see the package docstring for usage.

    ``privacy_mode`` mirrors BotFather's setting: when True (Telegram's default) a non-admin
    bot in a group only receives commands and replies to its own messages.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "korean_sentiment_test_bot",
        bot_name: str = "감정 분석 봇",
        privacy_mode: bool = True,
        spec: BotApiSpec | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.spec = spec or load_spec()
        bot_id = int(token.partition(":")[0]) if token.partition(":")[0].isdigit() else 1
        bot = FakeUser(bot_id, bot_name, username=bot_username, is_bot=True)
        update_types = [name for name in self.spec.types["Update"].fields if name != "update_id"]
        self.world = World(token, bot, update_types)
        self.world.privacy_mode = privacy_mode
        self._host = host
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._checks = object_checks(self.spec)
        self._injected: defaultdict[str, list[InjectedError]] = defaultdict(list)
        self.webhook = WebhookDelivery(self.world)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a random free port. Handlers are cancelled when the client disconnects,
        so a long poll abandoned by a stopping bot does not linger."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self.webhook.start()

    async def stop(self) -> None:
        """Release pending long polls (they return []) and close the listener."""
        self.world.updates.closed = True
        self.world.updates.signal.notify()
        await self.webhook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- public properties -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)``."""
        return f"http://{self._host}:{self._require_port()}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://{self._host}:{self._require_port()}/file/bot"

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def bot_user(self) -> FakeUser:
        return self.world.bot

    @property
    def bot_kwargs(self) -> dict[str, Any]:
        """``telegram.Bot(**server.bot_kwargs)``."""
        return {"token": self.token, "base_url": self.base_url, "base_file_url": self.base_file_url}

    @property
    def calls(self) -> list[tuple[str, JsonDict]]:
        """Every request as ``(canonical method name, decoded params)`` (raw params if the
        request was invalid)."""
        return self.world.calls

    @property
    def errors(self) -> list[RecordedError]:
        """Every rejected request except injected failures."""
        return self.world.errors

    @property
    def answered_callbacks(self) -> dict[str, JsonDict]:
        """answerCallbackQuery parameters by callback query id."""
        return self.world.answered_callbacks

    @property
    def unanswered_callbacks(self) -> dict[str, JsonDict]:
        """Callback queries the bot has not answered (the user sees a spinner)."""
        return self.world.pending_callbacks

    @property
    def chat_actions(self) -> list[tuple[int, str]]:
        return self.world.chat_actions

    @property
    def settings(self) -> dict[str, JsonDict]:
        """Parameters of accepted bot-profile setters such as setMyDescription."""
        return self.world.settings

    def my_commands(self, scope: JsonDict | None = None, language_code: str = "") -> list[JsonDict]:
        """Commands registered with setMyCommands for a scope (default scope if None)."""
        key = f"{json.dumps(scope or {'type': 'default'}, sort_keys=True)}|{language_code}"
        return self.world.commands.get(key, [])

    def file_bytes(self, file_id: str) -> bytes:
        return self.world.files[file_id].data

    def assert_no_errors(self) -> None:
        """Fail if the bot made any request Telegram would have rejected."""
        if self.errors:
            listing = "\n".join(f"  {e}" for e in self.errors)
            raise AssertionError(f"the bot sent invalid Bot API requests:\n{listing}")

    def forward_webhook(self, to_url: str) -> None:
        """Deliver webhook updates to ``to_url`` (plain HTTP on loopback), standing in for
        the TLS-terminating proxy behind the HTTPS URL the bot registers."""
        self.webhook.forward_to = to_url
        self.world.updates.signal.notify()

    def inject_error(
        self, method: str, error_code: int, description: str, *, retry_after: int | None = None
    ) -> None:
        """Make the next call to ``method`` fail, e.g. ``inject_error("sendMessage", 429,
        "Too Many Requests: retry after 1", retry_after=1)``."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        self._injected[method.lower()].append(InjectedError(error_code, description, parameters))

    # --- HTTP --------------------------------------------------------------------------------

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegramServer is not started")
        return self._port

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.world.token:
            return self._fail(method, dict(request.query), ApiError(401, "Unauthorized"))
        try:
            fields, files = await _read_params(request)
        except ApiError as err:
            return self._fail(method, {}, err)
        try:
            return await self._dispatch(method, fields, files)
        finally:
            self.world.bot_output.notify()

    async def _dispatch(
        self, method: str, fields: JsonDict, files: dict[str, UploadedFile]
    ) -> web.Response:
        spec = self.spec.method(method)
        if spec is None:
            return self._fail(method, fields, ApiError(404, "Not Found"))
        raw = {**fields, **{k: v for k, v in files.items() if k in spec.fields}}
        attachments = {k: v for k, v in files.items() if k not in spec.fields}
        try:
            params = ParamDecoder(self.spec, attachments, self._checks).decode_call(spec, raw)
        except ApiError as err:
            self.world.calls.append((spec.name, raw))
            return self._fail(spec.name, raw, err)
        self.world.calls.append((spec.name, params))
        self.world.bot_output.notify()  # wait_for_call must see a long poll as it starts
        try:
            result = await self._invoke(spec, params)
        except ApiError as err:
            return self._fail(spec.name, params, err)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _invoke(self, spec: MethodSpec, params: JsonDict) -> Any:
        if check := METHOD_CHECKS.get(spec.name):
            check(params)
        if injected := self._injected.get(spec.name.lower()):
            raise injected.pop(0)
        if latency := self.world.latency.get(spec.name):
            await asyncio.sleep(latency)
        if handler := HANDLERS.get(spec.name):
            return await handler(self.world, params)
        if spec.name in HARMLESS_METHODS:
            return await harmless(self.world, params, spec.name)
        raise bad_request("method not supported by the fake server")

    def _fail(self, method: str, params: JsonDict, err: ApiError) -> web.Response:
        if not isinstance(err, InjectedError):
            self.world.errors.append(RecordedError(method, params, err.error_code, err.description))
        return web.json_response(err.to_json(), status=err.error_code, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self.world.file_by_path(request.match_info["path"])
        if request.match_info["token"] != self.world.token or stored is None:
            return web.json_response(ApiError(404, "Not Found").to_json(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )


async def _read_params(request: web.Request) -> tuple[JsonDict, dict[str, UploadedFile]]:
    """Collect parameters from the query string and whichever body encoding was used."""
    fields: JsonDict = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        fields.update(await _json_body(request))
    elif request.content_type == "multipart/form-data":
        await _read_multipart(request, fields, files)
    elif request.body_exists:
        fields.update(await request.post())
    return fields, files


async def _json_body(request: web.Request) -> JsonDict:
    try:
        body = json.loads(await request.text() or "{}")
    except json.JSONDecodeError as exc:
        raise bad_request(f"can't parse JSON body: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise bad_request("JSON body must be an object")
    return body


async def _read_multipart(
    request: web.Request, fields: JsonDict, files: dict[str, UploadedFile]
) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            raise bad_request("unsupported multipart layout")
        if part.filename is None:
            fields[part.name] = await part.text()
        else:
            content_type = part.headers.get(CONTENT_TYPE, "application/octet-stream")
            files[part.name] = UploadedFile(part.filename, content_type, bytes(await part.read()))
