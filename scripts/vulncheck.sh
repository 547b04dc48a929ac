#!/usr/bin/env bash
# govulncheck v1.9.0 over the exporter's module, offline: the vulnerability
# database comes from the golang.org/x/vulndb module (through the Go module
# proxy) and is converted into govulncheck's file:// layout by
# scripts/vulndb-from-module.py. govulncheck builds from its own tools
# module (scripts/vulncheck/go.mod), never from the exporter's go.mod.
# Exit status: 0 when no vulnerability reaches the code, 3 when one does.
set -euo pipefail
cd "$(dirname "$0")/.."

VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
VULNDB_TIME=${VULNDB_TIME:-2026-11-05T23:49:57Z} # the module's OSV files carry zero times

export GOWORK=off
# Scan the standard library of the release we build with (see the Makefile).
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
work=$(mktemp -d "${TMPDIR:-/tmp}/ativo-vulncheck.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo ">> building govulncheck" >&2
(cd scripts/vulncheck && go build -o "$work/govulncheck" golang.org/x/vuln/cmd/govulncheck)

echo ">> preparing the vulnerability database golang.org/x/vulndb@$VULNDB_VERSION" >&2
src=$(cd scripts/vulncheck && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
python3 scripts/vulndb-from-module.py "$src" "$work/db" "$VULNDB_TIME"

echo ">> govulncheck ./..." >&2
"$work/govulncheck" -db "file://$work/db" "$@" ./...
