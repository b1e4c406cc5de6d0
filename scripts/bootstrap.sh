#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the locked dependencies; installs redis-server,
# PostgreSQL and HAProxy (tests run the system of record on both SQLite and PostgreSQL, and the
# scale-out test puts HAProxy in front of two Rasa servers), and chromium for the browser tests.
# Idempotent: does nothing when the venv already matches requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false

find_python310() {
  local candidates=("${PYTHON310:-}" python3.10)
  local d
  for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do
    candidates+=("$d")
  done
  local c
  for c in "${candidates[@]}"; do
    [ -n "$c" ] || continue
    # pyenv shims exist for versions that are not selected: actually run it to be sure.
    if "$c" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

stamp=.venv/.installed-lock
lock_hash=$(sha256sum requirements.lock | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] && [ -x .venv/bin/python ]; then
  :
else
  if [ ! -x .venv/bin/python ]; then
    if ! py=$(find_python310); then
      echo "error: Python 3.10 is required (rasa 3.6 supports Python 3.8-3.10) and none was found." >&2
      echo "Install it, e.g. 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv'," >&2
      echo "or point PYTHON310 at a python3.10 binary, then run this again." >&2
      exit 1
    fi
    echo "==> creating .venv with $py"
    "$py" -m venv .venv
  fi
  echo "==> installing locked dependencies (first time: several minutes, torch is large)"
  .venv/bin/python -m pip install --quiet --upgrade "pip<25" >/dev/null
  .venv/bin/python -m pip install --quiet --progress-bar off -r requirements.lock
  .venv/bin/python -m pip check
  echo "$lock_hash" > "$stamp"
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing redis-server from the OS packages"
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
  else
    echo "error: redis-server is not installed. Install it (e.g. 'sudo apt-get install redis-server')." >&2
    exit 1
  fi
fi

# PostgreSQL (the server programs live in /usr/lib/postgresql/<version>/bin) and HAProxy
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v haproxy >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing postgresql and haproxy from the OS packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql haproxy >/dev/null
  else
    echo "error: postgresql or haproxy is not installed. Install them (e.g. 'sudo apt-get install postgresql haproxy')." >&2
    exit 1
  fi
fi

# Browser tests of the collector console drive Debian's chromium through chromedriver.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium and chromium-driver from the OS packages (browser tests)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "warning: chromium/chromedriver not installed; the console browser tests will fail." >&2
    echo "Install them (e.g. 'sudo apt-get install chromium chromium-driver')." >&2
  fi
fi

# A CJK font, so the browser draws Chinese pages (and their screenshots) instead of empty boxes.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing a Chinese font (fonts-wqy-zenhei) for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null
  else
    echo "warning: no Chinese font; Chinese web pages will show empty boxes ('sudo apt-get install fonts-wqy-zenhei')." >&2
  fi
fi
