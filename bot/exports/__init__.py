"""Writing a patient export: machine-readable JSON and a readable HTML document.

Both files hold health information: they are created owner-only (0600).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(loader=PackageLoader("bot.web", "templates"), autoescape=select_autoescape(["html"]))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_export(export: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write `<patient>-export.json` and `<patient>-export.html` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ref = export["patient"]["id"]
    json_path = out_dir / f"{ref}-export.json"
    html_path = out_dir / f"{ref}-export.html"
    _write_private(json_path, json.dumps(export, indent=2, ensure_ascii=False))
    _write_private(html_path, _env.get_template("export.html").render(e=export))
    return json_path, html_path
