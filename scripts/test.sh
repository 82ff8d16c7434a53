#!/usr/bin/env bash
# The one test command: installs what the tests need, checks generated files are fresh,
# vets, and runs every test (browser tests included) with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/setup.sh

step "generated files (templ, Tailwind CSS, vendored htmx) are fresh"
gen_files() { git ls-files -co --exclude-standard -- '*_templ.go' static/app.css static/htmx.min.js | sort; }
before=$(gen_files | xargs -r sha256sum)
go tool templ generate >/dev/null
npm run -s vendor
npm run -s css >/dev/null 2>&1
after=$(gen_files | xargs -r sha256sum)
if [ "$before" != "$after" ]; then
  echo "Generated files were stale and have been regenerated; commit them:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "fresh"

step "gofmt"
bad=$(git ls-files -co --exclude-standard '*.go' | grep -v '_templ.go$' | xargs -r gofmt -l)
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi

step "go vet"
go vet ./...

step "go test -race (browser tests required)"
E2E_REQUIRED=1 go test -race -count=1 -timeout 20m ./...

step "handler scenarios again with the system database on PostgreSQL"
DA_TEST_STATE=postgres go test -race -count=1 -timeout 10m ./handlers/ \
  -run 'Scenarios|TestDenyByDefaultSweep|TestDeletedOrDeactivated|TestLogin|TestToken|TestActivity'
