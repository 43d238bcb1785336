"""Only complete, intact versions are ever served; the pointer moves atomically."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from nlp.artifacts import MANIFEST_FILE, WEIGHTS_FILE, ModelLoadError
from nlp.ensemble import load_model
from training.registry import Registry, RegistryError


@pytest.fixture
def registry_copy(trained_registry, tmp_path) -> Registry:
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    return Registry(root)


def test_half_written_version_is_refused(registry_copy):
    name = registry_copy.current_name()
    broken = registry_copy.versions_dir / "20990101-000000-default-half"
    shutil.copytree(registry_copy.path_of(name), broken)
    (broken / MANIFEST_FILE).unlink()
    with pytest.raises(ModelLoadError, match="incomplete"):
        load_model(broken)
    with pytest.raises(RegistryError, match="incomplete"):
        registry_copy.use(broken.name)
    assert registry_copy.current_name() == name
    listed = {info.name: info for info in registry_copy.versions()}
    assert listed[broken.name].problem and listed[name].problem is None


def test_corrupt_weights_are_refused(registry_copy):
    name = registry_copy.current_name()
    weights = registry_copy.path_of(name) / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="corrupt"):
        registry_copy.load_current()


def test_use_switches_current_and_cli_reports_it(registry_copy):
    name = registry_copy.current_name()
    second = registry_copy.versions_dir / "20990101-000000-default-copy"
    shutil.copytree(registry_copy.path_of(name), second)
    registry_copy.use(second.name)
    assert registry_copy.current_name() == second.name
    assert registry_copy.load_current().version == second.name
    completed = subprocess.run(
        [sys.executable, "-m", "training.registry", "--root", str(registry_copy.root), "current"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == str(second)
    listing = subprocess.run(
        [sys.executable, "-m", "training.registry", "--root", str(registry_copy.root), "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"* {second.name}" in listing and name in listing


def test_unknown_version_and_bad_names(registry_copy):
    with pytest.raises(RegistryError):
        registry_copy.use("../../etc")
    with pytest.raises(RegistryError, match="does not exist"):
        registry_copy.use("nope")
    command = [sys.executable, "-m", "training.registry", "--root", str(registry_copy.root)]
    completed = subprocess.run([*command, "use", "nope"], capture_output=True, text=True)
    assert completed.returncode == 1 and "nope" in completed.stderr


def test_empty_registry_says_how_to_train(tmp_path):
    with pytest.raises(RegistryError, match="make train"):
        Registry(tmp_path).load_current()


def test_staging_is_cleaned_when_training_fails(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(RuntimeError), registry.staging("run") as staging:
        (staging / "weights.npz").write_bytes(b"partial")
        raise RuntimeError("killed")
    assert not any(registry.staging_dir.iterdir())
    assert registry.versions() == []


def test_newest_names_the_latest_servable_version_of_a_config(registry_copy):
    """`python -m training.registry newest CONFIG` (what a recipe that fine-tunes the
    version it has just trained reads): the newest complete version, never a broken one."""
    name = registry_copy.current_name()
    config = registry_copy.info(name).metrics["config"]
    later = registry_copy.versions_dir / "20990101-000000-copy"
    broken = registry_copy.versions_dir / "20990102-000000-half"
    shutil.copytree(registry_copy.path_of(name), later)
    shutil.copytree(registry_copy.path_of(name), broken)
    (broken / MANIFEST_FILE).unlink()
    command = [sys.executable, "-m", "training.registry", "--root", str(registry_copy.root)]
    found = subprocess.run([*command, "newest", config], capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.strip() == str(later)
    missing = subprocess.run([*command, "newest", "no-such-config"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no-such-config" in missing.stderr
