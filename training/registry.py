"""Model versions on disk and the pointer to the one being served.

    <root>/versions/<version>/   complete versions only (see nlp.artifacts)
    <root>/.staging/<name>/      versions being written; renamed into versions/ when complete
    <root>/CURRENT               the served version's name, replaced atomically

A version appears in versions/ by one rename, so a reader never sees a half-written one,
and CURRENT is swapped with os.replace, so a crash leaves either the old or the new pointer.

    python -m training.registry list | current | use VERSION
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.artifacts import METRICS_FILE, ModelLoadError, read_json, verify_model_dir
from nlp.ensemble import Servable, load_model
from training.paths import TrainingPaths

CURRENT_FILE = "CURRENT"
# metrics.json "role" of a stand-in: a model fitted in a minute to answer while the full
# one trains (bot.first_model). Written by the training run, so no later reader guesses.
QUICK_ROLE = "quick"


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class VersionInfo:
    name: str
    path: Path
    metrics: dict[str, Any]
    problem: str | None  # why this version cannot be served, if it cannot

    @property
    def accuracy(self) -> float | None:
        value = self.metrics.get("test_accuracy")
        return float(value) if value is not None else None

    @property
    def is_quick(self) -> bool:
        return self.metrics.get("role") == QUICK_ROLE

    @property
    def replaces(self) -> str | None:
        """The quick version this one was trained to take over from, if any."""
        value = self.metrics.get("replaces")
        return str(value) if value else None


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions_dir = root / "versions"
        self.staging_dir = root / ".staging"

    @classmethod
    def from_env(cls) -> Registry:
        return cls(TrainingPaths.from_env().registry_dir)

    @staticmethod
    def new_version_name(config_name: str) -> str:
        """Sortable by time, unique even for two runs in the same second."""
        return (
            f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{config_name}-{secrets.token_hex(2)}"
        )

    @contextlib.contextmanager
    def staging(self, name: str) -> Iterator[Path]:
        """A scratch directory for a version; it is removed unless `publish` moved it."""
        directory = self.staging_dir / name
        directory.mkdir(parents=True, exist_ok=False)
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def publish(self, staged: Path) -> Path:
        verify_model_dir(staged)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        target = self.versions_dir / staged.name
        if target.exists():
            raise RegistryError(f"version {staged.name} already exists")
        os.replace(staged, target)
        return target

    def discard(self, name: str) -> None:
        """Delete a version that must never be served (a rejected candidate).

        Deleted rather than kept and marked: `use` serves any complete version, so a kept
        reject would be one typo from production, and nightly rejects would pile up. The
        directory leaves versions/ in one rename, so no reader sees a half-deleted
        version; an interrupted deletion is finished by `clean_staging`.
        """
        source = self.path_of(name)
        if not source.exists():
            return
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        trash = self.staging_dir / f"{name}.discarded"
        os.replace(source, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def clean_staging(self) -> int:
        """Remove what crashed or killed training runs left behind; returns how many."""
        if not self.staging_dir.is_dir():
            return 0
        leftovers = list(self.staging_dir.iterdir())
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        return len(leftovers)

    def versions(self) -> list[VersionInfo]:
        if not self.versions_dir.is_dir():
            return []
        return [self.info(path.name) for path in sorted(self.versions_dir.iterdir())]

    def info(self, name: str) -> VersionInfo:
        path = self.path_of(name)
        try:
            verify_model_dir(path)
            return VersionInfo(name, path, read_json(path / METRICS_FILE), None)
        except ModelLoadError as error:
            return VersionInfo(name, path, {}, str(error))

    def newest(self, config: str) -> VersionInfo | None:
        """The newest servable full version of ``config`` or of a variant of it
        (`student-pieces` counts as `student`)."""
        return self._newest_servable(lambda info: not info.is_quick and _is_variant(info, config))

    def with_run_key(self, key: str) -> VersionInfo | None:
        """The newest servable version a run with this key published
        (training.checkpoints.run_key): that run need not be done again."""
        return self._newest_servable(lambda info: info.metrics.get("run_key") == key)

    def replacement_of(self, quick: str) -> str | None:
        """The newest servable version trained to replace `quick`: one published just
        before a crash, which only needs to be made current."""
        done = self._newest_servable(lambda info: info.replaces == quick)
        return done.name if done else None

    def _newest_servable(self, wanted: Callable[[VersionInfo], bool]) -> VersionInfo | None:
        """Names sort by training time, so the last servable match is the newest."""
        found = [info for info in self.versions() if info.problem is None and wanted(info)]
        return found[-1] if found else None

    def path_of(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise RegistryError(f"{name!r} is not a version name")
        return self.versions_dir / name

    def current_name(self) -> str | None:
        try:
            name = (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def current_dir(self) -> Path:
        name = self.current_name()
        if name is None:
            raise RegistryError(f"no current model in {self.root}: train one with `make train`")
        return self.path_of(name)

    def use(self, name: str) -> None:
        """Point CURRENT at a version, after checking it can be served."""
        info = self.info(name)
        if info.problem:
            raise RegistryError(f"refusing version {name}: {info.problem}")
        self.point_at(name)

    def point_at(self, name: str) -> None:
        """Write CURRENT without checking the version: for a caller that has just loaded
        it (bot.served_version), where hashing every file again would be wasted."""
        self.path_of(name)  # a valid name
        pointer = self.root / CURRENT_FILE
        partial = self.root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, pointer)

    def load(self, name: str) -> Servable:
        return load_model(self.path_of(name), version=name)

    def load_current(self) -> Servable:
        name = self.current_name()
        if name is None:
            raise RegistryError(f"no current model in {self.root}: train one with `make train`")
        return self.load(name)


def _is_variant(info: VersionInfo, config: str) -> bool:
    name = str(info.metrics.get("config", ""))
    return name == config or name.startswith(f"{config}-")


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.registry", description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="registry directory")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions with their test accuracy")
    commands.add_parser("current", help="print the current version's directory")
    use = commands.add_parser("use", help="make VERSION the current one")
    use.add_argument("version")
    newest = commands.add_parser(
        "newest", help="print the directory of CONFIG's newest servable version (or a variant's)"
    )
    newest.add_argument("config")
    args = parser.parse_args(argv)
    registry = Registry(args.root) if args.root else Registry.from_env()
    try:
        if args.command == "list":
            current = registry.current_name()
            for info in registry.versions():
                mark = "*" if info.name == current else " "
                shown = {k: info.metrics.get(k) for k in ("test_accuracy", "config", "trained_at")}
                if info.is_quick:
                    shown["role"] = QUICK_ROLE
                detail = info.problem or json.dumps(shown)
                print(f"{mark} {info.name}  {detail}")
        elif args.command == "current":
            print(registry.current_dir())
        elif args.command == "newest":
            print(_newest_dir(registry, args.config))
        else:
            registry.use(args.version)
            print(f"current version: {args.version}")
    except (RegistryError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _newest_dir(registry: Registry, config: str) -> Path:
    info = registry.newest(config)
    if info is None:
        raise RegistryError(f"no servable version of config {config!r} in {registry.root}")
    return info.path


if __name__ == "__main__":
    sys.exit(_main())
