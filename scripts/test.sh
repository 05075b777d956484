#!/usr/bin/env bash
# `make test`: quality gates, the seeded test model (cached by content hash), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
BIN=.venv/bin

echo "[test] ruff"
"$BIN/ruff" check bot actions tests
"$BIN/ruff" format --check -q bot actions tests

echo "[test] import layering (lint-imports, contracts in pyproject.toml)"
"$BIN/lint-imports" --no-cache

echo "[test] rasa data validate (strict)"
"$BIN/interlude" validate --config tests/config.test.yml

echo "[test] test model"
"$BIN/interlude" train --config tests/config.test.yml

echo "[test] pytest"
set +e
"$BIN/python" -m pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "[test] pytest collected no tests: that is a failure here." >&2
  exit 1
fi
exit $status
