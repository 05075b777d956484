"""The machine-wide model cache: a model trained in one checkout is reused by another."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot import model_cache
from bot.config import PROJECT_ROOT
from bot.training import MODELS_DIR, ensure_model, model_fingerprint


def test_off_means_no_folder_and_no_copies(tmp_path: Path):
    env = {"INTERLUDE_MODEL_CACHE": "off"}
    src = tmp_path / "semantic-abc.pkl"
    src.write_bytes(b"model")
    model_cache.put(src, environ=env)
    assert model_cache.cache_dir(env) is None
    assert model_cache.fetch(src.name, tmp_path / "out" / src.name, environ=env) is None


def test_put_then_fetch_copies_the_same_bytes(tmp_path: Path):
    env = {"INTERLUDE_MODEL_CACHE": str(tmp_path / "cache")}
    src = tmp_path / "a" / "semantic-abc.pkl"
    src.parent.mkdir()
    src.write_bytes(b"trained weights")
    model_cache.put(src, environ=env)
    dest = tmp_path / "b" / "safety" / "semantic-abc.pkl"
    assert model_cache.fetch(src.name, dest, environ=env) == dest
    assert dest.read_bytes() == b"trained weights"
    assert model_cache.fetch("semantic-other.pkl", tmp_path / "x.pkl", environ=env) is None
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".cache-")]  # no temp left


def test_old_files_of_a_kind_are_pruned_other_kinds_kept(tmp_path: Path):
    env = {"INTERLUDE_MODEL_CACHE": str(tmp_path / "cache")}
    keep = tmp_path / "config-0000.tar.gz"
    keep.write_bytes(b"x")
    model_cache.put(keep, environ=env)
    for i in range(model_cache.KEEP_PER_KIND + 3):
        f = tmp_path / f"semantic-{i:04d}.pkl"
        f.write_bytes(b"x")
        model_cache.put(f, environ=env)
        os.utime(tmp_path / "cache" / f.name, (1000 + i, 1000 + i))
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len([n for n in names if n.startswith("semantic-")]) == model_cache.KEEP_PER_KIND
    assert "config-0000.tar.gz" in names and "semantic-0008.pkl" in names


def test_a_fresh_checkout_takes_the_cached_model_instead_of_training(tmp_path, monkeypatch):
    """ensure_model with an empty models folder copies the cached file of the same content hash
    and does not run `rasa train` (which would fail here: the executable is made unreachable)."""
    config = PROJECT_ROOT / "tests" / "config.test.yml"
    name = f"config_test-{model_fingerprint(config)}.tar.gz"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / name).write_bytes(b"a cached model")
    monkeypatch.setenv("INTERLUDE_MODEL_CACHE", str(cache))
    monkeypatch.setattr("bot.training.rasa_executable", lambda: "/nonexistent/rasa")
    if not any((PROJECT_ROOT / MODELS_DIR / "safety").glob("semantic-*.pkl")):
        pytest.skip("the safety model is trained by scripts/test.sh before pytest")
    models = tmp_path / "models"
    logs: list[str] = []
    model = ensure_model(config, models_dir=models, log=logs.append)
    assert model == models / name and model.read_bytes() == b"a cached model"
    assert "copied from the model cache" in logs[-1]
    shutil.rmtree(models)
