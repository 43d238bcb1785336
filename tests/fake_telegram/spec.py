"""The official Bot API description, and strict validation of requests against it.

Why: the fake server is only useful if it rejects whatever real Telegram would reject (and a bit
more: unknown parameters and unknown object fields are silently ignored by Telegram but are
almost always a typo in our bot, so they are errors here). Everything is derived from the
machine-readable Bot API description in ``tests/data/telegram-bot-api.json`` (see the README
there) so new API versions need no code changes.

python-telegram-bot encodes parameters as ``application/x-www-form-urlencoded`` (or
``multipart/form-data`` when a file is attached) where strings are sent verbatim and every other
value is JSON-dumped (``reply_markup='{"inline_keyboard": ...}'``, ``disable_notification=true``,
``chat_id=123``). Other clients post JSON bodies. :class:`ParamDecoder` accepts both: at the top
level a string may stand for an Integer/Float/Boolean or contain a JSON object/array, while
nested values must already have the right JSON type.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ApiError, bad_request

SPEC_ENV_VAR = "TELEGRAM_API_SPEC"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "telegram-bot-api.json"

_DISCRIMINATOR_FIELDS = ("type", "status", "source")
_DISCRIMINATOR_RE = re.compile(r"(?:always|must be) [\"“]?([A-Za-z_]+)[\"”]?")
_INTEGER_RE = re.compile(r"-?\d+")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_ARRAY_PREFIX = "Array of "


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a method or one field of an object type."""

    name: str
    types: tuple[str, ...]
    required: bool
    description: str


@dataclass(frozen=True)
class MethodSpec:
    """A Bot API method: its canonical (camelCase) name, parameters and return types."""

    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    """A Bot API object type.

    ``subtypes`` is non-empty for abstract unions such as ``ReactionType``; ``discriminator``
    is ``(field, value)`` for concrete subtypes, e.g. ``("type", "emoji")``.
    """

    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]
    discriminator: tuple[str, str] | None


@dataclass(frozen=True)
class UploadedFile:
    """A ``multipart/form-data`` file part (an ``InputFile`` in Bot API terms)."""

    filename: str
    content_type: str
    data: bytes


class BotApiSpec:
    """Lookup tables over the Bot API description. Method names are case-insensitive, as in
    Telegram."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.version: str = raw.get("version", "unknown")
        self.types: dict[str, TypeSpec] = {
            name: _parse_type(entry) for name, entry in raw["types"].items()
        }
        methods = (_parse_method(entry) for entry in raw["methods"].values())
        self._methods: dict[str, MethodSpec] = {m.name.lower(): m for m in methods}

    def method(self, name: str) -> MethodSpec | None:
        """The method called ``name`` (any letter case), or None if Telegram has no such
        method."""
        return self._methods.get(name.lower())

    def enum_values(self, type_name: str, field_name: str) -> tuple[str, ...]:
        """The quoted values listed in a field's description (e.g. MessageEntity.type or the
        allowed reaction emoji), so enumerations come from the spec too."""
        description = self.types[type_name].fields[field_name].description
        return tuple(re.findall(r"\"([^\"]+)\"", description))


def _parse_fields(entries: list[dict[str, Any]] | None) -> dict[str, FieldSpec]:
    return {
        e["name"]: FieldSpec(e["name"], tuple(e["types"]), bool(e["required"]), e["description"])
        for e in entries or []
    }


def _parse_method(entry: Mapping[str, Any]) -> MethodSpec:
    return MethodSpec(entry["name"], _parse_fields(entry.get("fields")), tuple(entry["returns"]))


def _parse_type(entry: Mapping[str, Any]) -> TypeSpec:
    fields = _parse_fields(entry.get("fields"))
    return TypeSpec(
        entry["name"],
        fields,
        tuple(entry.get("subtypes", ())),
        _discriminator(fields) if entry.get("subtype_of") else None,
    )


def _discriminator(fields: Mapping[str, FieldSpec]) -> tuple[str, str] | None:
    for name in _DISCRIMINATOR_FIELDS:
        if name in fields and (match := _DISCRIMINATOR_RE.search(fields[name].description)):
            return name, match.group(1)
    return None


def spec_path() -> Path:
    """Where the description lives: ``$TELEGRAM_API_SPEC``, else the copy in tests/data."""
    override = os.environ.get(SPEC_ENV_VAR)
    return Path(override) if override else DEFAULT_SPEC_PATH


def load_spec(path: Path | None = None) -> BotApiSpec:
    """The parsed description at ``path`` (default :func:`spec_path`), parsed once per file."""
    return _load_spec((path or spec_path()).resolve())


@functools.cache
def _load_spec(path: Path) -> BotApiSpec:
    if not path.is_file():
        raise FileNotFoundError(
            f"Bot API description not found at {path}; set ${SPEC_ENV_VAR} to its location"
        )
    return BotApiSpec(json.loads(path.read_text(encoding="utf-8")))


class _Mismatch(Exception):
    """A value does not have one of the declared types; unions catch it and try the next
    alternative. Limit violations raise :class:`ApiError` instead and are never retried."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


ObjectCheck = Callable[[dict[str, Any], str], None]
"""Extra rule for a decoded object (e.g. callback_data <= 64 bytes): ``check(obj, path)``."""


class ParamDecoder:
    """Decodes the raw parameters of one request and checks them against the spec.

    ``attachments`` are file parts referenced as ``attach://<name>`` (media groups);
    ``object_checks`` maps type names to additional Telegram limits.
    """

    def __init__(
        self,
        spec: BotApiSpec,
        attachments: Mapping[str, UploadedFile] | None = None,
        object_checks: Mapping[str, ObjectCheck] | None = None,
    ) -> None:
        self._spec = spec
        self._attachments = attachments or {}
        self._object_checks = object_checks or {}

    def decode_call(self, method: MethodSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Reject unknown/missing parameters, then decode each value by its declared types."""
        unknown = sorted(set(raw) - set(method.fields))
        if unknown:
            raise bad_request(f"unknown parameter {unknown[0]!r} for method {method.name}")
        for field in method.fields.values():
            if field.required and field.name not in raw:
                raise bad_request(f"parameter {field.name!r} is required for {method.name}")
        return {
            name: self.decode(method.fields[name].types, value, name, top_level=True)
            for name, value in raw.items()
        }

    def decode(self, types: tuple[str, ...], value: Any, path: str, *, top_level: bool) -> Any:
        """Decode ``value`` as the first matching alternative of ``types``.

        On failure the error of the alternative that got deepest into the value is reported:
        for a malformed InlineKeyboardMarkup that names the offending button, instead of a
        vague "expected InlineKeyboardMarkup or ReplyKeyboardMarkup or ...".
        """
        failures: list[_Mismatch] = []
        for type_name in types:
            try:
                return self._decode_one(type_name, value, path, top_level)
            except _Mismatch as failure:
                failures.append(failure)
        deepest = max(failures, key=lambda f: len(f.path))
        if deepest.path != path or len(failures) == 1:
            raise _as_api_error(deepest) if top_level else deepest
        shallow = _Mismatch(path, f"expected {' or '.join(types)}, got {_describe(value)}")
        raise _as_api_error(shallow) if top_level else shallow

    def _decode_one(self, type_name: str, value: Any, path: str, top_level: bool) -> Any:
        if type_name.startswith(_ARRAY_PREFIX):
            items = _json_container(value, list, path, top_level)
            item_type = (type_name.removeprefix(_ARRAY_PREFIX),)
            return [
                self.decode(item_type, item, f"{path}[{i}]", top_level=False)
                for i, item in enumerate(items)
            ]
        scalar = _SCALAR_DECODERS.get(type_name)
        if scalar is not None:
            return scalar(value, path, top_level)
        if type_name == "InputFile":
            return self._decode_input_file(value, path)
        type_spec = self._spec.types.get(type_name)
        if type_spec is None:
            return value  # pseudo-types such as "True" only appear in return values
        return self._decode_object(type_spec, _json_container(value, dict, path, top_level), path)

    def _decode_input_file(self, value: Any, path: str) -> UploadedFile:
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name in self._attachments:
                return self._attachments[name]
            raise _Mismatch(path, f"no multipart part named {name!r} for {value}")
        raise _Mismatch(path, f"expected a multipart file upload, got {_describe(value)}")

    def _decode_object(self, spec: TypeSpec, obj: dict[str, Any], path: str) -> dict[str, Any]:
        if spec.subtypes:
            return self._decode_subtype(spec, obj, path)
        unknown = sorted(set(obj) - set(spec.fields))
        if unknown:
            raise _Mismatch(f"{path}.{unknown[0]}", f"unknown field of {spec.name}")
        for field in spec.fields.values():
            if field.required and field.name not in obj:
                raise _Mismatch(f"{path}.{field.name}", f"required field of {spec.name} missing")
        decoded = {
            key: self.decode(spec.fields[key].types, item, f"{path}.{key}", top_level=False)
            for key, item in obj.items()
        }
        if spec.discriminator and decoded[spec.discriminator[0]] != spec.discriminator[1]:
            key, expected = spec.discriminator
            raise _Mismatch(f"{path}.{key}", f"must be {expected!r} for {spec.name}")
        if check := self._object_checks.get(spec.name):
            check(decoded, path)
        return decoded

    def _decode_subtype(self, spec: TypeSpec, obj: dict[str, Any], path: str) -> dict[str, Any]:
        subtypes = [self._spec.types[name] for name in spec.subtypes if name in self._spec.types]
        keyed = [s for s in subtypes if s.discriminator]
        if not keyed:
            return self.decode(tuple(s.name for s in subtypes), obj, path, top_level=False)
        key = keyed[0].discriminator[0]  # type: ignore[index]
        for subtype in keyed:
            if subtype.discriminator == (key, obj.get(key)):
                return self._decode_object(subtype, obj, path)
        raise _Mismatch(f"{path}.{key}", f"unknown {spec.name} {key} {obj.get(key)!r}")


def _json_container(value: Any, kind: type, path: str, top_level: bool) -> Any:
    """Top-level objects/arrays arrive JSON-encoded inside form fields; nested ones do not."""
    if top_level and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _Mismatch(path, f"can't parse JSON: {exc.msg}") from exc
    if not isinstance(value, kind):
        expected = "JSON object" if kind is dict else "JSON array"
        raise _Mismatch(path, f"expected a {expected}, got {_describe(value)}")
    return value


def _decode_integer(value: Any, path: str, top_level: bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if top_level and isinstance(value, str) and _INTEGER_RE.fullmatch(value.strip()):
        return int(value)
    raise _Mismatch(path, f"expected Integer, got {_describe(value)}")


def _decode_float(value: Any, path: str, top_level: bool) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if top_level and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Mismatch(path, f"expected Float, got {_describe(value)}")


def _decode_boolean(value: Any, path: str, top_level: bool) -> bool:
    if isinstance(value, bool):
        return value
    if top_level and isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise _Mismatch(path, f"expected Boolean, got {_describe(value)}")


def _decode_string(value: Any, path: str, top_level: bool) -> str:
    """Telegram stringifies top-level JSON numbers, so ``{"text": 5}`` is accepted there."""
    if isinstance(value, str):
        return value
    if top_level and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Mismatch(path, f"expected String, got {_describe(value)}")


_SCALAR_DECODERS: dict[str, Callable[[Any, str, bool], Any]] = {
    "Integer": _decode_integer,
    "Float": _decode_float,
    "Boolean": _decode_boolean,
    "String": _decode_string,
}


def _describe(value: Any) -> str:
    if isinstance(value, UploadedFile):
        return f"file upload {value.filename!r}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _as_api_error(failure: _Mismatch) -> ApiError:
    return bad_request(f"invalid parameter {failure}")
