#!/usr/bin/env bash
# Go benchmarks: decoding the team index, /teams and program/period lists
# at 1k, 10k and 100k items (ns/item, B/op, allocs/op), and a full
# collection against the fake Ativo. BENCHTIME (default 1s) is passed to
# -benchtime; extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOWORK=off
exec go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" "$@" ./ativo ./collector
