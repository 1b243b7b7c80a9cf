#!/usr/bin/env bash
# The project's two set-up commands (see README):
#   ./dev.sh demo   set everything up, then run the app on the embedded demo exam site
#   ./dev.sh test   set everything up, then run the whole test suite headless (ruff, mypy, pytest)
# and helpers: ./dev.sh setup | bench | package | package-test | lockdown ARGS...
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY="$VENV/bin/python"

# Debian packages the Qt xcb platform plugin, Qt WebEngine and the headless tests need.
SYSTEM_PACKAGES=(libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon0
  libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2 libegl1 libgl1
  libfontconfig1 libdbus-1-3 xvfb xdotool xauth x11-utils
  binutils desktop-file-utils g++)

need_system_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 1
  local missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 1
  echo "${missing[@]}"
}

setup_system() {
  local missing
  missing=$(need_system_packages) || return 0
  echo "dev.sh: installing Debian packages: $missing" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}

setup_python() {
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q -e ".[dev]" >&2
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
  # Byte-code for the app's own modules: with PYTHONDONTWRITEBYTECODE set (as on these
  # machines) Python never writes it, and every start would compile ~50 modules (~30 ms) anew.
  # Only what changed is compiled again.
  "$PY" -m compileall -q -j 0 lockdown >&2
  # The same for the support code PySide6 compiles at every import (lockdown.startup.code_cache).
  "$PY" -m lockdown.startup.code_cache >/dev/null \
    || echo "dev.sh: PySide6's support code not recorded; the app starts ~20 ms slower" >&2
  # The request interceptor's C++ fast path (lockdown/ui/fastpath): rebuilt when its source
  # changes. Without it the Python interceptor sees every request: same decisions, pages with
  # hundreds of sub-resources load ~3-4 % slower.
  "$PY" -m lockdown.ui.fastpath.build >/dev/null \
    || echo "dev.sh: the interceptor's C++ fast path is not built (reason above)" >&2
}

setup() { setup_system; setup_python; }

# Qt WebEngine refuses to start its sandbox as root; CI and these machines run as root.
root_env() { [ "$(id -u)" -eq 0 ] && export QTWEBENGINE_DISABLE_SANDBOX=1; return 0; }

with_display() {
  if [ -n "${DISPLAY:-}" ]; then "$@"; else xvfb-run -a -s "-screen 0 1280x800x24" "$@"; fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; root_env; with_display "$PY" -m lockdown "$@" ;;
  lockdown) setup; root_env; "$PY" -m lockdown "$@" ;;
  test)
    setup; root_env
    export QT_QPA_PLATFORM=offscreen
    "$VENV/bin/ruff" check lockdown tests bench installers build.spec
    "$PY" -m mypy
    "$PY" -m pytest "$@"
    ;;
  bench) setup; root_env; "$PY" bench/run.py "$@" ;;
  package) setup; exec installers/build "$@" ;;            # frozen app + installer + smoke test
  package-test) setup; exec installers/package-test "$@" ;; # + dpkg install/smoke/remove (root)
  *) echo "usage: ./dev.sh demo|test|setup|bench|package|package-test|lockdown ARGS" >&2
     exit 2 ;;
esac
