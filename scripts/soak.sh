#!/usr/bin/env bash
# Soak test: the exporter binary against the fake Ativo for SOAK_DURATION
# (default 2m) while scrapes arrive at a high rate and the fake cycles
# through every fault. Loopback only; every process is stopped by its PID.
# SOAK_TIMEOUT (default 30m) bounds the whole go test run; raise it for a
# soak longer than about 25 minutes. Extra arguments go to `go test`
# (for example -v).
set -euo pipefail
cd "$(dirname "$0")/.."

export GOWORK=off
exec go test -tags soak -count=1 -timeout "${SOAK_TIMEOUT:-30m}" "$@" ./soak/ \
	-soak.duration="${SOAK_DURATION:-2m}"
