#!/usr/bin/env bash
# Installs what building and testing need and is idempotent: Debian chromium for the
# browser tests (no browser download), Debian postgresql for the tests of the PostgreSQL
# state backend (store/pgtest starts a throwaway cluster from it), and the pinned npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian chromium for the browser tests"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 && [ -z "${DA_TEST_DATABASE_URL:-}" ]; then
  echo "installing Debian postgresql for the PostgreSQL state tests"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
if command -v docker-compose >/dev/null 2>&1 || [ "${DA_SKIP_COMPOSE:-}" = 1 ]; then :; else
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-compose >/dev/null 2>&1 || echo "docker-compose not installable; skipping compose validation"
fi
if ! cmp -s package-lock.json node_modules/.da-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.da-lock
fi
