#!/usr/bin/env bash
# End-to-end tests: the exporter against the fake Ativo (single-site, and two sites through
# /probe with the multi-site scrape config), scraped by a real Prometheus that
# loads deploy/prometheus/alerts.yml, with a real Alertmanager notifying the test's webhook.
# Installs Prometheus and Alertmanager from Debian when absent. Loopback only; takes about a
# minute and is bounded to 5 minutes. Extra arguments go to `go test` (for example -v).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if ((${#need[@]})); then
	echo "e2e: installing ${need[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

export GOWORK=off
exec go test -tags e2e -count=1 -timeout 5m "$@" ./e2e/
