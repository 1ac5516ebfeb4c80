# Sourced by scripts/start and scripts/test: make sure .venv exists and holds what pyproject.toml
# asks for. Reinstalls only when pyproject.toml (or the extras asked for) changed.
ensure_venv() {
  local extras=$1 python=${FIELDBOOK_PYTHON:-python3}
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Fieldbook needs Python 3.11 or newer as '$python' (set FIELDBOOK_PYTHON to another interpreter)." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
      # Debian keeps venv in a separate package.
      as_root apt-get install -y -qq python3-venv >/dev/null
      "$python" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --upgrade pip
  fi
  local stamp=.venv/.fieldbook-installed want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing Fieldbook${extras:+ with $extras} into .venv ..."
    .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
    echo "$want" >"$stamp"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
