#!/usr/bin/env bash
# The one command that runs every check on a fresh clone: installs what the
# tests need (Debian packages when run as root, the npm packages, Deno), then
# typecheck, lint and the whole test suite, and ends with the plain line
# `tests: P passed, F failed`. Exits non-zero when anything failed.
# Arguments go to tap (e.g. a test file to run only that one).
set -uo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6

setup_failed() {
  echo "$1" >&2
  echo "tests: 0 passed, 0 failed"
  exit 1
}

# Debian packages (ffmpeg, mosquitto, GStreamer's RTSP server, Chromium, ...).
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-system-deps.sh || setup_failed "installing the system packages failed"
elif ! bash scripts/install-system-deps.sh; then
  setup_failed "system packages the tests need are missing; install them with: sudo bash scripts/install-system-deps.sh (or run sudo npm run test:all)"
fi

# npm packages, from the lock file.
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund || setup_failed "npm ci failed"
fi

# Deno 2 for the test that runs the runtime under Deno. Not in package.json: the
# package's lock entries name binaries for every platform, and a registry mirror
# that carries only this platform's makes `npm ci` refuse the lock file.
if [ ! -x node_modules/.bin/deno ]; then
  npm install --no-save --no-audit --no-fund "deno@$DENO_VERSION" ||
    setup_failed "installing Deno failed; run: npm install --no-save --no-audit --no-fund deno@$DENO_VERSION"
fi

checks_failed=()
npm run typecheck || checks_failed+=(typecheck)
if [ -x node_modules/.bin/biome ]; then
  npm run lint || checks_failed+=(lint)
else
  echo "lint: node_modules/.bin/biome is missing (node_modules predates it); run: npm install" >&2
  checks_failed+=(lint)
fi

export LINESIGHT_LOG_LEVEL=${LINESIGHT_LOG_LEVEL:-warn}
log=$(mktemp)
npx tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# -a: a test's output may hold a stray control byte (a hostile config echoed
# in a warning); grep must still read the log as text.
summary=$(grep -a -E '^# \{ total: ' "$log" | tail -n 1)
rm -f "$log"
total=$(sed -nE 's/.*total: ([0-9]+).*/\1/p' <<<"$summary")
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
if [ ${#checks_failed[@]} -gt 0 ]; then
  echo "failed before the tests: ${checks_failed[*]}"
  [ "$status" -eq 0 ] && status=1
fi
echo "tests: ${pass:-0} passed, ${fail:-$(( ${total:-0} - ${pass:-0} ))} failed"
exit "$status"
