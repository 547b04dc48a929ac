#!/usr/bin/env bash
# Static checks of the operations content: Dockerfile, deploy/, dashboards/.
#
# Installs what it needs (Debian packages; Go modules through the module proxy), caches the
# offline Kubernetes schemas under .cache/ops, prints one line per check and exits non-zero
# if any check fails (printing that check's output). VERBOSE=1 prints every check's output.
# Safe to run again: nothing is installed or downloaded twice.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/ops
K8S_VERSION=v1.34.4                  # k8s.io/kubernetes module: api/openapi-spec/swagger.json
PROMETHEUS_OPERATOR_VERSION=v0.85.0  # its example/prometheus-operator-crd holds the CRDs
DOCKERFILE_UTILS_VERSION=0.16.3      # npm: a second, independent Dockerfile linter
CRDS=(servicemonitors prometheusrules probes) # prometheus-operator CRDs the manifests use
export GOWORK=off
mkdir -p "$CACHE"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LOG=$TMP/log
passed=0
failed=0

# check NAME COMMAND...: runs COMMAND with its output captured, prints one line.
check() {
	local name=$1 start end
	shift
	start=$(date +%s%N)
	if "$@" >"$LOG" 2>&1; then
		end=$(date +%s%N)
		passed=$((passed + 1))
		printf 'ok    %-44s %6.1fs\n' "$name" "$(((end - start) / 1000000))e-3"
		if [[ ${VERBOSE:-0} == 1 ]]; then sed 's/^/      /' "$LOG"; fi
	else
		end=$(date +%s%N)
		failed=$((failed + 1))
		printf 'FAIL  %-44s %6.1fs\n' "$name" "$(((end - start) / 1000000))e-3"
		sed 's/^/      /' "$LOG"
	fi
}

install_packages() {
	local need=()
	command -v promtool >/dev/null || need+=(prometheus)
	command -v systemd-analyze >/dev/null || need+=(systemd)
	command -v python3 >/dev/null || need+=(python3)
	python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
	command -v yamllint >/dev/null || need+=(yamllint)
	command -v shellcheck >/dev/null || need+=(shellcheck)
	command -v npm >/dev/null || need+=(npm)
	if ((${#need[@]})); then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
	fi
	# The tools module's dependencies and the pinned kubeconform.
	go -C tools mod download
	go -C tools build -o "$CACHE/kubeconform" github.com/yannh/kubeconform/cmd/kubeconform
	if [[ ! -x $CACHE/npm/node_modules/.bin/dockerfile-utils ]] ||
		[[ $(cat "$CACHE/npm/.version" 2>/dev/null) != "$DOCKERFILE_UTILS_VERSION" ]]; then
		npm install --prefix "$CACHE/npm" --no-audit --no-fund --silent "dockerfile-utils@$DOCKERFILE_UTILS_VERSION"
		echo "$DOCKERFILE_UTILS_VERSION" >"$CACHE/npm/.version"
	fi
}

# dockerfile-utils exits 0 on warnings: any output is a finding.
dockerfile_lint() {
	local out
	out=$("$CACHE/npm/node_modules/.bin/dockerfile-utils" lint Dockerfile 2>&1) || {
		echo "$out"
		return 1
	}
	[[ -z $out ]] || {
		echo "$out"
		return 1
	}
}

# moddir MODULE@VERSION: downloads a module (outside any go.mod) and prints its directory.
moddir() {
	(cd "$TMP" && go mod download -json "$1") |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

schemas() {
	local marker=$CACHE/schemas/.done-$K8S_VERSION-$PROMETHEUS_OPERATOR_VERSION-${CRDS[*]// /-} k8s po crd files=()
	marker=${marker// /-}
	[[ -f $marker ]] && return 0
	rm -rf "$CACHE/schemas"
	k8s=$(moddir "k8s.io/kubernetes@$K8S_VERSION")
	python3 tools/k8s-swagger-to-schemas.py "$k8s/api/openapi-spec/swagger.json" "$CACHE/schemas/k8s"
	po=$(moddir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
	for crd in "${CRDS[@]}"; do
		files+=("$po/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml")
	done
	python3 tools/crd-to-schemas.py "$CACHE/schemas/crd" "${files[@]}"
	touch "$marker"
}

kubeconform() {
	"$CACHE/kubeconform" -strict -summary \
		-schema-location "$CACHE/schemas/k8s/standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
		-schema-location "$CACHE/schemas/crd/standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
		"$@"
}

# The compose file mounts deploy/prometheus at /etc/prometheus/rules: check its Prometheus
# configuration with that path pointing at the repository's copy.
compose_prometheus_config() {
	mkdir -p "$TMP/compose"
	sed "s|/etc/prometheus/rules/|$ROOT/deploy/prometheus/|" deploy/compose/prometheus.yml >"$TMP/compose/prometheus.yml"
	promtool check config "$TMP/compose/prometheus.yml"
}

# The example sites files, checked by the exporter itself (--config.check, which also reads
# every token source). Their token paths are where systemd and Kubernetes put the tokens: point
# them at files in a temporary folder, and set the environment variables they name.
sites_check() {
	local d=$TMP/sites f out name vars
	mkdir -p "$d/tokens"
	go build -o "$d/ativo_exporter" . || return 1
	for f in deploy/sites.example.yml deploy/kubernetes/multisite/sites.yml; do
		out=$d/$(echo "$f" | tr / _)
		sed -e "s|/run/credentials/ativo_exporter.service/|$d/tokens/|" \
			-e "s|/etc/ativo_exporter/tokens/|$d/tokens/|" "$f" >"$out"
		while read -r name; do
			echo "example-token-$name" >"$d/tokens/$name"
		done < <(sed -n "s|^ *token_file: $d/tokens/||p" "$out")
		if grep -v "$d/tokens/" "$out" | grep -q '^ *token_file: /'; then
			echo "$f: a token_file outside the paths this check knows"
			return 1
		fi
		vars=()
		while read -r name; do
			vars+=("$name=example-token")
		done < <(sed -n 's|^ *token_env: *\([A-Za-z0-9_]*\).*|\1|p' "$out")
		env "${vars[@]}" "$d/ativo_exporter" --config.file="$out" --config.check || return 1
	done
}

# systemd-analyze verify wants ExecStart's binary to exist: point it at a stub.
systemd_verify() {
	local d=$TMP/systemd out
	mkdir -p "$d"
	printf '#!/bin/sh\n' >"$d/ativo_exporter" && chmod +x "$d/ativo_exporter"
	sed "s|/usr/local/bin/ativo_exporter|$d/ativo_exporter|" deploy/systemd/ativo_exporter.service >"$d/ativo_exporter.service"
	out=$(systemd-analyze verify "$d/ativo_exporter.service" 2>&1) || {
		echo "$out"
		return 1
	}
	# Warnings (unknown settings, bad values) do not change the exit status.
	[[ -z $out ]] || {
		echo "$out"
		return 1
	}
}

# Exposure 0.0 (locked down) to 10.0 (unprotected); the unit scores 1.2 on systemd 252.
systemd_security() {
	systemd-analyze security --offline=true --threshold=15 deploy/systemd/ativo_exporter.service
}

check "install tools" install_packages
check "kubeconform schemas (cached)" schemas
check "dockerfile-utils lint Dockerfile" dockerfile_lint
check "go mod tidy -diff (tools module)" go -C tools mod tidy -diff
check "go test tools/opscheck" env OPSCHECK_KUSTOMIZE_OUT="$CACHE/kustomize.yaml" \
	OPSCHECK_KUSTOMIZE_MULTISITE_OUT="$CACHE/kustomize-multisite.yaml" go -C tools test -count=1 ./...
check "go vet (tools module)" go -C tools vet ./...
check "go test dashboards (metric names)" go test -count=1 ./dashboards/
check "promtool check config (example)" promtool check config deploy/prometheus/prometheus.yml
check "promtool check config (multi-site)" promtool check config deploy/prometheus/prometheus-multisite.yml
check "ativo_exporter --config.check (sites files)" sites_check
check "promtool check config (compose)" compose_prometheus_config
check "promtool check rules" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules" promtool test rules deploy/prometheus/alerts_test.yml
check "kubeconform -strict (manifests)" kubeconform deploy/kubernetes/deployment.yaml deploy/kubernetes/service.yaml \
	deploy/kubernetes/secret.example.yaml deploy/kubernetes/servicemonitor.yaml deploy/kubernetes/prometheusrule.yaml
check "kubeconform -strict (kustomize build)" kubeconform "$CACHE/kustomize.yaml"
check "kubeconform -strict (multisite manifests)" kubeconform deploy/kubernetes/multisite/servicemonitor-sites.yaml \
	deploy/kubernetes/multisite/probe.yaml deploy/kubernetes/multisite/secret.example.yaml
check "kubeconform -strict (multisite build)" kubeconform "$CACHE/kustomize-multisite.yaml"
check "systemd-analyze verify" systemd_verify
check "systemd-analyze security" systemd_security
check "yamllint deploy/" yamllint -s -c tools/yamllint.yml deploy
check "shellcheck scripts/" shellcheck scripts/*.sh

echo "ops checks: $passed passed, $failed failed"
((failed == 0))
