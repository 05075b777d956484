"""The tree's shape (issue #17): storage modules stay small, the composition stays a container,
and the import layering in pyproject.toml holds."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_STORAGE_LINES = 500

#: Where storage code lives: the store core, and each capability's repositories.
STORAGE = [
    "bot/store/*.py",
    "bot/patients/*.py",
    "bot/rights/*.py",
    "bot/checkins/*.py",
    "bot/flags/*.py",
    "bot/escalation/deliveries.py",
    "bot/schedule/store.py",
    "bot/schedule/views.py",
    "bot/staff/*.py",
    "bot/portal/*.py",
]


def test_no_storage_module_is_over_500_lines():
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for pattern in STORAGE
        for path in ROOT.glob(pattern)
    }
    assert sizes, "no storage modules found"
    assert {p: n for p, n in sizes.items() if n > MAX_STORAGE_LINES} == {}


def test_the_store_is_a_plain_container_of_repositories():
    """bot.runtime.Store may build the repositories (open, over) but defines no store operation."""
    tree = ast.parse((ROOT / "bot/runtime.py").read_text(encoding="utf-8"))
    [store] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Store"]
    methods = {n.name for n in store.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert methods <= {"open", "over"}


def test_the_store_core_imports_no_capability():
    """Also checked by lint-imports; this one reads the source, so it holds without the tool."""
    capabilities = ("patients", "rights", "checkins", "flags", "escalation", "schedule", "staff", "portal")
    offending = []
    for path in (ROOT / "bot/store").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offending += [
                (path.name, n) for n in names if n.split(".")[:2] in (["bot", c] for c in capabilities)
            ]
    assert offending == []


def test_import_contracts_hold():
    """import-linter is pinned in requirements/lock.txt, so it is there wherever tests run."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
