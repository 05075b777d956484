#!/usr/bin/env bash
# Install everything Interlude needs into ./.venv, reproducibly; a no-op when nothing changed.
#
# Rasa 3.6.21 and rasa-sdk 3.6.2 declare Python < 3.11 but run on 3.11: they are installed
# with --no-deps --ignore-requires-python, and everything else from the pinned lock
# (requirements/lock.txt) with normal resolution. See ../shared/notes/rasa-on-python-3.11.md.
#
# Browser-side packages (the web chat's socket.io client) come from npm, pinned by
# package-lock.json, into ./node_modules; Interlude serves them itself (no CDN).
#
# Usage: scripts/install.sh [--browser]   (--browser: also Debian's chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
RASA_PINS=(rasa==3.6.21 rasa-sdk==3.6.2)
STAMP="$VENV/.interlude-install"
want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

say() { printf '[install] %s\n' "$*"; }

pick_python() {
  for candidate in "${INTERLUDE_PYTHON:-}" python3.11 python3.10 python3; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 10), (3, 11)) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  say "Interlude needs Python 3.10 or 3.11 (Rasa 3.6); set INTERLUDE_PYTHON to one." >&2
  return 1
}

apt_ensure() {  # apt_ensure COMMAND PACKAGE: install a Debian package when COMMAND is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "$1 is missing and apt-get is not available; install the $2 package yourself." >&2
    return 1
  fi
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  say "Installing $2 from Debian ..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

fingerprint() {
  cat requirements/lock.txt pyproject.toml scripts/install.sh | sha256sum | cut -c1-32
}

if [[ $want_browser -eq 1 ]]; then
  apt_ensure chromium chromium
fi

install_npm() {
  local stamp=node_modules/.interlude-install want_npm
  want_npm="$(cat package.json package-lock.json | sha256sum | cut -c1-32)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want_npm" ]]; then
    return 0
  fi
  apt_ensure npm npm
  say "Installing browser packages (npm ci) ..."
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want_npm" > "$stamp"
}

install_python() {
  local want
  want="$(fingerprint)"
  if [[ -x "$VENV/bin/rasa" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    say "Python packages are up to date."
    return 0
  fi
  local PY
  PY=$(pick_python)
  if [[ ! -x "$VENV/bin/python" ]]; then
    say "Creating $VENV with $($PY --version) ..."
    "$PY" -m venv "$VENV"
  fi
  local PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
  say "Installing pinned packages (a few minutes the first time; TensorFlow is large) ..."
  "${PIP[@]}" install "$(grep -i '^pip==' requirements/lock.txt)"
  "${PIP[@]}" install --no-deps --ignore-requires-python "${RASA_PINS[@]}"
  # Lines marked "# no-deps" (the semantic risk layer's embeddings) declare requirements that
  # clash with Rasa's pins; they are installed on their own, without dependencies.
  "${PIP[@]}" install -r <(grep -v '# no-deps' requirements/lock.txt)
  "${PIP[@]}" install --no-deps $(grep '# no-deps' requirements/lock.txt | cut -d' ' -f1)
  "${PIP[@]}" install --no-deps --no-build-isolation -e .
  "$VENV/bin/rasa" --version >/dev/null
  echo "$want" > "$STAMP"
  say "Done: $("$VENV/bin/rasa" --version 2>/dev/null | grep -E '^Rasa Version' | tr -s ' ')."
}

install_python
install_npm
