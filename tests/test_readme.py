"""The READMEs tell users the truth about the code, in English and in Korean: every setting
with its default, every command; docs/architecture.md lists every module; every link
lands on a file and a heading that exist."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from telegram.ext import CommandHandler

from bot.handlers import register_handlers
from bot.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_README_CHARS = 20_000


@dataclass(frozen=True)
class Readme:
    """A README and the headings of its checked sections, in its language."""

    name: str
    commands: str
    configuration: str
    other: str  # the README in the other language, linked from the top

    @property
    def text(self) -> str:
        return (ROOT / self.name).read_text(encoding="utf-8")


READMES = (
    Readme("README.md", commands="Commands", configuration="Configuration", other="README.ko.md"),
    Readme("README.ko.md", commands="명령어", configuration="설정", other="README.md"),
)
by_name = pytest.mark.parametrize("readme", READMES, ids=lambda readme: readme.name)


def _section(readme: Readme, title: str) -> str:
    """The text under a `## title` heading, up to the next `## ` heading."""
    pattern = rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)"
    match = re.search(pattern, readme.text, re.M | re.S)
    assert match, f"{readme.name} has no '## {title}' section"
    return match.group(1)


def _configuration_table(readme: Readme) -> dict[str, str]:
    """{variable: default as written in the environment ("" for none)}: one row per
    variable, `| `NAME` | default | what it does |`."""
    section = _section(readme, readme.configuration)
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]+) \|", section, re.M)
    table: dict[str, str] = {}
    for name, cell in rows:
        assert name not in table, f"{name} is listed twice in {readme.name}"
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


@by_name
def test_the_configuration_table_lists_every_variable_with_its_default(readme: Readme):
    code = {variable.name: variable.default for variable in VARIABLES}
    table = _configuration_table(readme)
    missing, unknown = set(code) - set(table), set(table) - set(code)
    assert not missing, f"variables the code reads, missing from {readme.name}: {missing}"
    assert not unknown, f"variables in {readme.name} that the code does not read: {unknown}"
    wrong = {name: (table[name], code[name]) for name in code if table[name] != code[name]}
    assert not wrong, f"defaults in {readme.name} differ from the code (README, code): {wrong}"


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
    listed = set(re.findall(r"`((?:bot|nlp|training)/\w+\.py)`", ARCHITECTURE.read_text()))
    modules = {
        path.relative_to(ROOT).as_posix()
        for folder in ("bot", "nlp", "training")
        for path in (ROOT / folder).glob("*.py")
        if path.name != "__init__.py"
    }
    assert modules - listed == set(), "modules missing from docs/architecture.md"
    assert listed - modules == set(), "docs/architecture.md lists modules that do not exist"


class _Application:
    def __init__(self) -> None:
        self.handlers: list[object] = []

    def add_handler(self, handler: object, group: int = 0) -> None:
        self.handlers.append(handler)

    def add_error_handler(self, callback: object) -> None:
        pass


class _AnyHandlers:
    """Stands for every handler component and every callback of one."""

    def __getattr__(self, name: str) -> _AnyHandlers:
        return _AnyHandlers()

    async def __call__(self, update: object, context: object) -> None:
        return None


def _registered_commands() -> set[str]:
    application = _Application()
    register_handlers(application, _AnyHandlers())  # type: ignore[arg-type]
    return set().union(*(h.commands for h in application.handlers if isinstance(h, CommandHandler)))


def _commands_table(readme: Readme) -> set[str]:
    """The commands named in the first column of the commands table."""
    first_cells = re.findall(r"^\| ([^|]*) \|", _section(readme, readme.commands), re.M)
    return {command for cell in first_cells for command in re.findall(r"`/(\w+)", cell)}


@by_name
def test_the_commands_table_lists_exactly_the_registered_commands(readme: Readme):
    registered, documented = _registered_commands(), _commands_table(readme)
    assert registered, "no commands registered?"
    assert registered - documented == set(), f"commands missing from {readme.name}"
    assert documented - registered == set(), f"{readme.name} lists commands the bot lacks"


@by_name
def test_the_readme_is_short_and_links_the_other_language_at_the_top(readme: Readme):
    assert len(readme.text) < MAX_README_CHARS
    top = "\n".join(readme.text.splitlines()[:5])
    assert f"]({readme.other})" in top


def test_both_readmes_have_the_same_sections():
    english, korean = (re.findall(r"^## (.+)$", readme.text, re.M) for readme in READMES)
    assert len(english) == len(korean), (english, korean)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


PAGES = sorted(
    path.relative_to(ROOT).as_posix()
    for path in (ROOT / "README.md", ROOT / "README.ko.md", *(ROOT / "docs").glob("*.md"))
)


@pytest.mark.parametrize("page", PAGES)
def test_every_link_lands_on_a_file_and_heading_that_exist(page: str):
    source = ROOT / page
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        assert linked.is_file(), f"{page} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{page}: no heading for {target}"


@by_name
@pytest.mark.parametrize("diary", [r"\bsession\b", "✗", "✓", r"\buntil session", r"first version"])
def test_no_development_diary_in_the_readme(readme: Readme, diary):
    assert not re.search(diary, readme.text, re.I)


def test_no_two_modules_share_a_file_name_across_folders() -> None:
    """One name per room: `bot/x.py` and `bot/storage/x.py` would be two rooms called x."""
    seen: dict[str, list[str]] = {}
    for folder in ("bot", "nlp", "training"):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" not in path.parts and path.name != "__init__.py":
                seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
