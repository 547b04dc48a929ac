#!/usr/bin/env bash
# Bounded fuzzing for CI: every fuzz target for FUZZTIME (default 10s).
# The committed seed corpus (testdata/fuzz/) also runs in every `go test`.
# A failing input is written to testdata/fuzz/<target>/ by go test; commit
# it with the fix so that it stays a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOWORK=off
fuzztime=${FUZZTIME:-10s}
status=0
for pkg in ./ativo ./collector; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		echo ">> $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
			status=1
		fi
	done
done
exit $status
