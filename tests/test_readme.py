"""The README tells users the truth about the code: every setting, every command, every module."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from telegram.ext import CommandHandler

from bot.app import register_handlers
from bot.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    """The text under a `## title` heading, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def _configuration_table() -> dict[str, str]:
    """{variable: default as written in the environment ("" for none)} from the README."""
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]+) \|", _section("Configuration"), re.M)
    table: dict[str, str] = {}
    for name, cell in rows:
        assert name not in table, f"{name} is listed twice"
        cell = cell.strip()
        table[name] = "" if cell == "(none)" else cell.strip("`")
    return table


class _Recorder(Mapping[str, str]):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_the_settings_read_exactly_the_listed_variables():
    environment = _Recorder()
    Settings.from_env(environment)
    assert environment.asked == {variable.name for variable in VARIABLES}


def test_the_configuration_table_lists_every_variable_with_its_default():
    code = {variable.name: variable.default for variable in VARIABLES}
    table = _configuration_table()
    missing, unknown = set(code) - set(table), set(table) - set(code)
    assert not missing, f"variables the code reads, missing from README.md's table: {missing}"
    assert not unknown, f"variables in README.md's table that the code does not read: {unknown}"
    wrong = {name: (table[name], code[name]) for name in code if table[name] != code[name]}
    assert not wrong, f"defaults in README.md differ from the code (README, code): {wrong}"


def test_the_listed_defaults_are_what_the_settings_use():
    """Setting every variable to its listed default (expanded as a shell would) changes
    nothing."""
    cache_home = Path("~/.cache").expanduser()

    def expanded(default: str) -> str:
        value = string.Template(default).substitute(XDG_CACHE_HOME=cache_home)
        return str(Path(value).expanduser()) if value.startswith("~") else value

    explicit = {v.name: expanded(v.default) for v in VARIABLES if v.default}
    assert Settings.from_env(explicit) == Settings.from_env({})


def test_every_module_is_listed_in_the_architecture():
    listed = set(re.findall(r"`((?:bot|nlp|training)/\w+\.py)`", _section("How it works")))
    modules = {
        path.relative_to(ROOT).as_posix()
        for folder in ("bot", "nlp", "training")
        for path in (ROOT / folder).glob("*.py")
        if path.name != "__init__.py"
    }
    assert modules - listed == set(), "modules missing from README.md's 'How it works'"
    assert listed - modules == set(), "README.md lists modules that do not exist"


class _Application:
    def __init__(self) -> None:
        self.handlers: list[object] = []

    def add_handler(self, handler: object, group: int = 0) -> None:
        self.handlers.append(handler)

    def add_error_handler(self, callback: object) -> None:
        pass


class _AnyHandlers:
    def __getattr__(self, name: str):
        async def callback(update, context) -> None:
            return None

        return callback


def test_every_command_is_in_the_commands_table():
    application = _Application()
    register_handlers(application, _AnyHandlers())
    registered = set().union(
        *(h.commands for h in application.handlers if isinstance(h, CommandHandler))
    )
    documented = set(re.findall(r"`/(\w+)", _section("Commands")))
    assert registered, "no commands registered?"
    assert registered - documented == set(), "commands missing from README.md's Commands"


@pytest.mark.parametrize("page", ["docs/results.md", "docs/changelog.md", "docs/learning-loop.md"])
def test_linked_pages_exist(page):
    assert f"({page}" in README
    assert (ROOT / page).is_file()


@pytest.mark.parametrize("diary", [r"\bsession\b", "✗", "✓", r"\buntil session", r"first version"])
def test_no_development_diary_in_the_readme(diary):
    assert not re.search(diary, README, re.I)
