"""Message text formatting: parse modes, entity offsets and Telegram's auto-detected entities.

Why: a bot that sends ``parse_mode="HTML"`` with unescaped user input (``"a < b"``) or an
unsupported tag (``<br>``) gets ``Bad Request: can't parse entities`` from Telegram, and one
that miscounts offsets (Telegram counts UTF-16 code units, Python counts code points) produces
garbled formatting. The fake server parses like Telegram so those bugs surface in tests, and
returns the stripped text plus entities exactly as a real ``Message`` would carry them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request

Entity = dict[str, Any]

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_HTML_ATTR_RE = re.compile(r"([a-zA-Z-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+))")
_MARKDOWN_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
_URL_RE = re.compile(r"https?://[^\s<>\"]+")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram measures entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


def byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset, which Telegram quotes in parse errors."""
    return len(text[:index].encode("utf-8"))


def parse_text(
    text: str, parse_mode: str | None, entities: list[Entity] | None
) -> tuple[str, list[Entity]]:
    """Return ``(plain_text, entities)`` as Telegram would store the message.

    Explicit ``entities`` take precedence over ``parse_mode`` (as in Telegram) and are checked
    to lie inside the text.
    """
    if entities is not None:
        _check_entity_bounds(text, entities)
        return text, entities
    if not parse_mode:
        return text, []
    parser = _PARSERS.get(parse_mode.lower())
    if parser is None:
        raise bad_request(f"unsupported parse_mode {parse_mode!r}")
    return parser(text)


def _check_entity_bounds(text: str, entities: list[Entity]) -> None:
    size = utf16_len(text)
    for entity in entities:
        if entity["offset"] < 0 or entity["length"] <= 0:
            raise bad_request(f"can't parse entities: invalid entity {entity}")
        if entity["offset"] + entity["length"] > size:
            raise bad_request(f"can't parse entities: entity {entity} is outside the text")


def auto_entities(text: str) -> list[Entity]:
    """Entities Telegram adds to incoming user messages: bot commands, mentions and URLs."""
    found: list[Entity] = []
    for kind, pattern in (("bot_command", _COMMAND_RE), ("mention", _MENTION_RE), ("url", _URL_RE)):
        for match in pattern.finditer(text):
            found.append(_entity(kind, text, match.start(), match.end()))
    return sorted(found, key=lambda e: e["offset"])


def _entity(kind: str, text: str, start: int, end: int, **extra: Any) -> Entity:
    offset = utf16_len(text[:start])
    return {"type": kind, "offset": offset, "length": utf16_len(text[start:end]), **extra}


@dataclass
class _Open:
    """An entity whose start has been seen but not its end."""

    tag: str
    kind: str
    start: int  # index into the output text
    source_index: int  # index into the input, for error messages
    extra: dict[str, Any] = field(default_factory=dict)


class _Builder:
    """Accumulates output text and finished entities for the parsers below."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[Entity] = []

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.length += len(chunk)

    def close(self, opened: _Open) -> None:
        text = "".join(self.parts)
        if self.length > opened.start:
            self.entities.append(
                _entity(opened.kind, text, opened.start, self.length, **opened.extra)
            )

    def result(self) -> tuple[str, list[Entity]]:
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))


def parse_html(text: str) -> tuple[str, list[Entity]]:
    """Telegram's HTML subset: only the documented tags, ``&lt; &gt; &amp; &quot;`` and numeric
    character references; every other ``<`` must be escaped."""
    out, stack, i = _Builder(), list[_Open](), 0
    while i < len(text):
        char = text[i]
        if char == "<":
            i = _html_tag(text, i, out, stack)
        elif char == "&" and (match := _HTML_ENTITY_RE.match(text, i)):
            out.add(html.unescape(match.group(0)))
            i = match.end()
        else:
            out.add(char)
            i += 1
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1].tag}"'
        )
    return out.result()


def _html_tag(text: str, i: int, out: _Builder, stack: list[_Open]) -> int:
    end = text.find(">", i)
    body = text[i + 1 : end].strip() if end != -1 else ""
    if end == -1 or not body:
        raise bad_request(
            f'can\'t parse entities: Unsupported start tag "" at byte offset {byte_offset(text, i)}'
        )
    if body.startswith("/"):
        _html_close(text, i, body[1:].strip().lower(), out, stack)
    else:
        stack.append(_html_open(text, i, body, out))
    return end + 1


def _html_open(text: str, i: int, body: str, out: _Builder) -> _Open:
    name, _, attr_text = body.partition(" ")
    name = name.lower().rstrip("/")
    attrs = {
        m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
        for m in _HTML_ATTR_RE.finditer(attr_text)
    }
    kind = _HTML_TAGS.get(name)
    if kind is None or (name == "span" and attrs.get("class") != "tg-spoiler"):
        raise bad_request(
            f'can\'t parse entities: Unsupported start tag "{name}" at byte offset '
            f"{byte_offset(text, i)}"
        )
    extra: dict[str, Any] = {}
    if name == "a":
        extra["url"] = attrs.get("href", "")
    elif name == "tg-emoji":
        extra["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif name == "code" and attrs.get("class", "").startswith("language-"):
        extra["language"] = attrs["class"].removeprefix("language-")
    elif name == "blockquote" and "expandable" in attr_text:
        kind = "expandable_blockquote"
    return _Open(name, kind, out.length, i, extra)


def _html_close(text: str, i: int, name: str, out: _Builder, stack: list[_Open]) -> None:
    if not stack or stack[-1].tag != name:
        expected = f'"</{stack[-1].tag}>"' if stack else "no end tag"
        raise bad_request(
            f"can't parse entities: Unmatched end tag at byte offset {byte_offset(text, i)}, "
            f'expected {expected}, found "</{name}>"'
        )
    opened = stack.pop()
    if opened.tag == "code" and stack and stack[-1].tag == "pre" and "language" in opened.extra:
        stack[-1].extra["language"] = opened.extra["language"]
        return  # <pre><code class="language-x"> is a single pre entity
    if opened.tag == "a" and not opened.extra["url"]:
        return  # <a> without href is plain text
    if opened.kind == "code":
        opened.extra.pop("language", None)  # only pre entities carry a language
    out.close(opened)


_MDV2_TOGGLES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """MarkdownV2: every reserved character outside an entity must be backslash-escaped, which
    is the classic way bots break when echoing user text such as ``"좋아요!"``."""
    out, stack, i = _Builder(), list[_Open](), 0
    while i < len(text):
        i = _mdv2_step(text, i, out, stack)
    if stack:
        opened = stack[-1]
        raise bad_request(
            f"can't parse entities: Can't find end of {opened.kind.title()} entity at byte "
            f"offset {byte_offset(text, opened.source_index)}"
        )
    return out.result()


def _mdv2_step(text: str, i: int, out: _Builder, stack: list[_Open]) -> int:
    char = text[i]
    if char == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) < 127:
        out.add(text[i + 1])
        return i + 2
    if char == "`":
        return _mdv2_code(text, i, out)
    token = text[i : i + 2] if text[i : i + 2] in _MDV2_TOGGLES else char
    if token in _MDV2_TOGGLES:
        _toggle(token, _MDV2_TOGGLES[token], text, i, out, stack)
        return i + len(token)
    if char == "[" or (char == "!" and text[i + 1 : i + 2] == "["):
        stack.append(_Open("[", "text_link", out.length, i))
        return i + (2 if char == "!" else 1)
    if char == "]" and stack and stack[-1].tag == "[":
        return _mdv2_link_end(text, i, out, stack)
    if char == ">" and (i == 0 or text[i - 1] == "\n"):
        return _mdv2_quote(text, i, out)
    if char in _MARKDOWN_V2_RESERVED:
        raise bad_request(
            f"can't parse entities: Character '{char}' is reserved and must be escaped with "
            "the preceding '\\'"
        )
    out.add(char)
    return i + 1


def _toggle(tag: str, kind: str, text: str, i: int, out: _Builder, stack: list[_Open]) -> None:
    if stack and stack[-1].tag == tag:
        out.close(stack.pop())
    elif any(o.tag == tag for o in stack):
        raise bad_request(
            f"can't parse entities: Can't find end of {kind.title()} entity at byte offset "
            f"{byte_offset(text, i)}"
        )
    else:
        stack.append(_Open(tag, kind, out.length, i))


def _mdv2_code(text: str, i: int, out: _Builder) -> int:
    fence = "```" if text.startswith("```", i) else "`"
    end = _find_unescaped(text, fence, i + len(fence))
    if end == -1:
        kind = "Pre" if fence == "```" else "Code"
        raise bad_request(
            f"can't parse entities: Can't find end of {kind} entity at byte offset "
            f"{byte_offset(text, i)}"
        )
    body = re.sub(r"\\([`\\])", r"\1", text[i + len(fence) : end])
    extra: dict[str, Any] = {}
    if fence == "```" and "\n" in body:
        language, body = body.split("\n", 1)
        if language.strip():
            extra["language"] = language.strip()
    start = out.length
    out.add(body)
    out.close(_Open(fence, "pre" if fence == "```" else "code", start, i, extra))
    return end + len(fence)


def _mdv2_link_end(text: str, i: int, out: _Builder, stack: list[_Open]) -> int:
    opened = stack.pop()
    if text[i + 1 : i + 2] != "(":
        return i + 1  # "[text]" without a URL is plain text
    end = _find_unescaped(text, ")", i + 2)
    if end == -1:
        raise bad_request(
            f"can't parse entities: Can't find end of a URL at byte offset {byte_offset(text, i)}"
        )
    url = re.sub(r"\\([)\\])", r"\1", text[i + 2 : end])
    opened.extra["url"] = url
    if url.startswith("tg://emoji?id="):
        opened.kind, opened.extra = "custom_emoji", {"custom_emoji_id": url.split("=", 1)[1]}
    out.close(opened)
    return end + 1


def _mdv2_quote(text: str, i: int, out: _Builder) -> int:
    """A ``>`` at the start of a line opens a blockquote that runs to the end of the line;
    consecutive quoted lines form one entity."""
    start = out.length
    while i < len(text) and text[i] == ">":
        line_end = text.find("\n", i)
        line_end = len(text) if line_end == -1 else line_end
        line_text, line_entities = parse_markdown_v2(text[i + 1 : line_end])
        out.entities.extend(
            {**e, "offset": e["offset"] + utf16_len("".join(out.parts))} for e in line_entities
        )
        out.add(line_text)
        i = line_end
        if text[i : i + 2] == "\n>":
            out.add("\n")
            i += 1
    out.close(_Open(">", "blockquote", start, i))
    return i


def _find_unescaped(text: str, needle: str, start: int) -> int:
    i = start
    while (i := text.find(needle, i)) != -1:
        backslashes = len(text[:i]) - len(text[:i].rstrip("\\"))
        if backslashes % 2 == 0:
            return i
        i += 1
    return -1


_LEGACY_MARKS = {"*": "bold", "_": "italic"}


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Legacy Markdown: ``*bold* _italic_ `code` ```pre``` [text](url)``; an unclosed mark is
    an error (``Can't find end of the entity starting at byte offset N``)."""
    out, i = _Builder(), 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("_", "*", "`", "["):
            out.add(text[i + 1])
            i += 2
        elif char in _LEGACY_MARKS or char == "`":
            i = _legacy_span(text, i, out)
        elif char == "[" and (match := re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])):
            start = out.length
            out.add(match.group(1))
            out.close(_Open("[", "text_link", start, i, {"url": match.group(2)}))
            i += match.end()
        else:
            out.add(char)
            i += 1
    return out.result()


def _legacy_span(text: str, i: int, out: _Builder) -> int:
    mark = "```" if text.startswith("```", i) else text[i]
    end = text.find(mark, i + len(mark))
    if end == -1:
        raise bad_request(
            "can't parse entities: Can't find end of the entity starting at byte offset "
            f"{byte_offset(text, i)}"
        )
    kind = {"```": "pre", "`": "code"}.get(mark) or _LEGACY_MARKS[mark]
    start = out.length
    out.add(text[i + len(mark) : end])
    out.close(_Open(mark, kind, start, i))
    return end + len(mark)


_PARSERS = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}
