"""A machine-wide cache of trained models, shared by every checkout of Interlude.

A model's file name already carries a content hash of everything that determines it (data,
config, code version), so a file of that name trained in another checkout (a CI clone, a
worktree) is the same model. `interlude train` looks here before training and copies what it
trains here afterwards; a fresh clone then starts in seconds instead of minutes.

`INTERLUDE_MODEL_CACHE` names the folder (default `~/.cache/interlude/models`); `off` turns the
cache off. The cache holds only files this user's own training wrote; a copy is written to a
temporary name and renamed, so concurrent checkouts never see half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

KEEP_PER_KIND = 6  # newest files per name prefix ("config_test-", "semantic-", ...)


def cache_dir(environ: dict[str, str] | None = None) -> Path | None:
    """The cache folder, or None when the cache is turned off."""
    env = os.environ if environ is None else environ
    value = env.get("INTERLUDE_MODEL_CACHE", "").strip()
    if value.lower() in {"off", "0", "no", "false"}:
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "interlude" / "models"


def fetch(name: str, dest: Path, *, environ: dict[str, str] | None = None) -> Path | None:
    """Copy the cached file `name` to `dest` (a file path) and return it; None on a miss."""
    folder = cache_dir(environ)
    if folder is None or not (folder / name).is_file():
        return None
    try:
        _atomic_copy(folder / name, dest)
    except OSError:
        return None  # a cache that cannot be read is a miss, never a failed training
    return dest


def put(path: Path, *, environ: dict[str, str] | None = None) -> None:
    """Copy a freshly trained file into the cache and prune old ones of its kind."""
    folder = cache_dir(environ)
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _atomic_copy(path, folder / path.name)
        _prune(folder, _kind(path.name))
    except OSError:
        pass  # the cache only saves time; a full disk must not fail the training that worked


def _kind(name: str) -> str:
    return name.rsplit("-", 1)[0] + "-"


def _atomic_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".cache-", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(folder: Path, kind: str) -> None:
    files = sorted(
        (p for p in folder.glob(f"{kind}*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in files[KEEP_PER_KIND:]:
        old.unlink(missing_ok=True)
