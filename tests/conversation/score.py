"""Score labelled utterances over one real stack: `python -m tests.conversation.score FILE.jsonl...`.

Prints accuracy per file (overall, per behaviour, per state) and each failure; `--out` writes
the failures as JSON lines for reading afterwards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bot.runtime import Store
from tests.conversation.harness import Harness, load_rows, score_rows
from tests.integration import stack as stack_module


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--config", help="a Rasa config other than tests/config.test.yml")
    args = parser.parse_args()
    if args.config:
        stack_module.TEST_CONFIG = args.config
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        stack = stack_module.start_stack(data, Path(tmp) / "console.log")
        store = Store.open(stack.settings.database_url, stack.settings.data_dir, environ={})
        try:
            harness = Harness(stack, store)
            failures = []
            for path in args.files:
                score = score_rows(harness, load_rows(path))
                print(f"== {path.name}\n{score.table()}", flush=True)
                failures += [{**f, "file": path.name} for f in score.failures]
            if args.out:
                args.out.write_text("".join(json.dumps(f) + "\n" for f in failures), encoding="utf-8")
        finally:
            store.core.close()
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
