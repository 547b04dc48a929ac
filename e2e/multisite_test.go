//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEndToEndMultiSite runs one exporter with a sites file listing two fake Ativo sites, each
// with its own token, scraped by Prometheus through /probe with the relabelling of the shipped
// deploy/prometheus/prometheus-multisite.yml, and with the shipped alert rules.
func TestEndToEndMultiSite(t *testing.T) {
	root, work := setUp(t)

	// Two fake Ativo sites, each accepting only its own token: a site that got the other
	// site's token would answer 401 and show ativo_api_token_valid 0.
	sites := []string{"a", "b"}
	fakes := map[string]*fakeControl{}
	var sitesFile strings.Builder
	sitesFile.WriteString("sites:\n")
	for _, s := range sites {
		tokenFile := filepath.Join(work, "token-"+s)
		writeFile(t, tokenFile, fmt.Sprintf("e2e-token-%s-%d\n", s, time.Now().UnixNano()))
		fakes[s] = &fakeControl{base: startFake(t, work, "fakeativo-"+s, tokenFile)}
		fmt.Fprintf(&sitesFile, `  - name: %s
    url: %s
    platform: cloud
    token_file: token-%s
    collectors: [team, version, team-configurations, programs, periods]
`, s, fakes[s].base, s)
	}
	writeFile(t, filepath.Join(work, "sites.yml"), sitesFile.String())

	// The exporter: the sites file only, no default token.
	exporterAddr := freeAddr(t)
	startProc(t, work, "ativo_exporter", filepath.Join(work, "ativo_exporter"),
		"--config.file="+filepath.Join(work, "sites.yml"),
		"--web.listen-address="+exporterAddr, "--log.level=debug")
	waitHTTP200(t, "http://"+exporterAddr+"/-/ready")

	hook := &webhook{}
	amAddr := startAlertmanager(t, work, hook, "[alertname, instance, site]")

	// Prometheus with the shipped multi-site scrape config: the two site names as targets of
	// the /probe job, the exporter as the address of both jobs, short intervals.
	cfg := readFile(t, filepath.Join(root, "deploy", "prometheus", "prometheus-multisite.yml"))
	for _, r := range []struct{ old, new string }{
		{"targets: [prod, sandbox]", "targets: [" + strings.Join(sites, ", ") + "]"},
		{"replacement: localhost:9721", "replacement: " + exporterAddr},
		{`targets: ["localhost:9721"]`, `targets: ["` + exporterAddr + `"]`},
		{"scrape_interval: 60s", "scrape_interval: " + scrapeInterval},
		{"scrape_timeout: 15s", "scrape_timeout: " + scrapeInterval},
		{"evaluation_interval: 1m", "evaluation_interval: 1s"},
		{"# alerting:", "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"" + amAddr + "\"]\n#"},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("prometheus-multisite.yml no longer contains %q: update this test", r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	writeFile(t, filepath.Join(work, "prometheus.yml"), cfg)
	writeShortenedRules(t, root, work)
	prom := startPrometheus(t, work)

	if !t.Run("both sites up through /probe", func(t *testing.T) {
		waitFor(t, "both /probe targets and the exporter's own target up", func() (struct{}, bool) {
			return struct{}{}, len(prom.query(t, `up{job="ativo-sites"} == 1`)) == 2 &&
				len(prom.query(t, `up{job="ativo-exporter"} == 1`)) == 1
		})
		for _, s := range sites {
			waitFor(t, "ativo_up and ativo_teams of site "+s, func() (struct{}, bool) {
				return struct{}{}, len(prom.query(t, `ativo_up{site="`+s+`"} == 1`)) == 1 &&
					len(prom.query(t, `ativo_teams{site="`+s+`"}`)) == 1
			})
			// Every site's series carry the exporter as instance and the site as site.
			for _, smp := range prom.query(t, `ativo_api_endpoint_up{site="`+s+`"}`) {
				if smp.Metric["instance"] != exporterAddr || smp.Metric["job"] != "ativo-sites" {
					t.Errorf("site %s: series %v, want instance %s and job ativo-sites", s, smp.Metric, exporterAddr)
				}
			}
		}
		// /probe carries the site's metrics only; /metrics no site's.
		if n := len(prom.query(t, `ativo_up{job="ativo-exporter"}`)); n != 0 {
			t.Errorf("the exporter's /metrics carries %d ativo_up series without a default token", n)
		}
		if n := len(prom.query(t, `ativo_exporter_build_info{job="ativo-sites"}`)); n != 0 {
			t.Errorf("/probe carries ativo_exporter_build_info (%d series)", n)
		}
	}) {
		return // later phases build on this one
	}

	if !t.Run("every dashboard query returns data for one site", func(t *testing.T) {
		values := prom.labelValues(t, "site", "ativo_up")
		if !slices.Equal(values, sites) {
			t.Errorf("site variable (label_values(ativo_up, site)) = %v, want %v", values, sites)
		}
		// As Grafana formats one selected value of a regex variable.
		vars := map[string]string{"instance": grafanaRegex(exporterAddr), "site": grafanaRegex("a")}
		maps.Copy(vars, grafanaVars)
		deadline := time.Now().Add(phaseTimeout)
		for _, q := range dashboardQueries(t, filepath.Join(root, "dashboards")) {
			expr := substitute(t, q.expr, vars)
			for {
				res := prom.query(t, expr)
				if len(res) > 0 {
					for _, smp := range res {
						if s, ok := smp.Metric["site"]; ok && s != "a" {
							t.Errorf("%s / %q: %s returned a series of site %q", q.dashboard, q.panel, expr, s)
						}
					}
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s / %q: no data for %s", q.dashboard, q.panel, expr)
					break
				}
				time.Sleep(500 * time.Millisecond) // poll interval
			}
		}
	}) {
		return // later phases build on this one
	}

	t.Run("revoking one site's token affects that site only", func(t *testing.T) {
		since := hook.len()
		fakes["a"].post(t, "/-/fake/token/revoke")
		waitFor(t, `ativo_api_token_valid{site="a"} == 0`, func() (struct{}, bool) {
			return struct{}{}, len(prom.query(t, `ativo_api_token_valid{site="a"} == 0`)) == 1
		})
		waitFor(t, "AtivoTokenRevoked for site a at the webhook", func() (struct{}, bool) {
			return struct{}{}, hook.seenWith(since, "AtivoTokenRevoked", "firing", map[string]string{"site": "a"})
		})
		// Site b stays healthy over a few more evaluations, and quiet.
		prom.waitEvaluations(t, 5, func() {
			if len(prom.query(t, `ativo_api_token_valid{site="b"} == 1`)) != 1 || len(prom.query(t, `ativo_up{site="b"} == 1`)) != 1 {
				t.Fatal("site b is not healthy while site a's token is revoked")
			}
			if res := prom.query(t, `ALERTS{site="b"}`); len(res) > 0 {
				t.Fatalf("alert %s is %s for site b", res[0].Metric["alertname"], res[0].Metric["alertstate"])
			}
			assertNotFiring(t, prom, hook, "AtivoAPIDown")
		})
		if hook.seenWith(0, "", "firing", map[string]string{"site": "b"}) {
			t.Error("an alert for site b reached the webhook")
		}
		fakes["a"].post(t, "/-/fake/token/restore")
	})
}

// grafanaRegex formats a value the way Grafana puts a regex variable into a PromQL string:
// regex-escaped, then escaped for the string.
func grafanaRegex(v string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`)
}

// seenWith reports whether a notification from index since on carried the alert (any alert
// when alert is "") in that status with all of the given labels.
func (h *webhook) seenWith(since int, alert, status string, labels map[string]string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.msgs[min(since, len(h.msgs)):] {
		for _, a := range n.Alerts {
			if (alert != "" && a.Labels["alertname"] != alert) || a.Status != status {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && a.Labels[k] == v
			}
			if match {
				return true
			}
		}
	}
	return false
}

// buildBinaries builds the exporter and the fake Ativo into work.
func buildBinaries(t *testing.T, root, work string) {
	t.Helper()
	for _, b := range []struct{ out, pkg string }{{"ativo_exporter", "."}, {"fakeativo", "./cmd/fakeativo"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(work, b.out), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
}

// startFake starts a fake Ativo accepting the token in tokenFile and returns its base URL.
func startFake(t *testing.T, work, name, tokenFile string) string {
	t.Helper()
	addrFile := filepath.Join(work, name+".addr")
	startProc(t, work, name, filepath.Join(work, "fakeativo"),
		"--listen", "127.0.0.1:0", "--token-file", tokenFile, "--address-file", addrFile)
	return waitFor(t, name+" address", func() (string, bool) {
		b, err := os.ReadFile(addrFile)
		s := strings.TrimSpace(string(b))
		return s, err == nil && s != ""
	})
}
