#!/usr/bin/env bash
# Side-by-side comparison of ativo_exporter with json_exporter v0.7.0 on
# the same fake Ativo, measured as SPEC §9 says; prints one table.
#
#   bench/compare.sh                       # print the table
#   bench/compare.sh -results bench/RESULTS-run.md   # also write it to a file
#
# json_exporter is built from its own tools module (bench/tools), never
# from the exporter's go.mod. Everything listens on loopback and every
# process is stopped by its PID; the whole run is bounded to 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOWORK=off
work=$(mktemp -d "${TMPDIR:-/tmp}/ativo-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo ">> building ativo_exporter, fakeativo and json_exporter v0.7.0" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/ativo_exporter" .
go build -o "$work/fakeativo" ./cmd/fakeativo
go build -o "$work/compare" ./bench/compare
(cd bench/tools && go build -o "$work/json_exporter" github.com/prometheus-community/json_exporter)

echo ">> measuring (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
timeout --signal=TERM --kill-after=10s 15m "$work/compare" \
	-exporter "$work/ativo_exporter" -fakeativo "$work/fakeativo" \
	-json-exporter "$work/json_exporter" -work-dir "$work" "$@"
