//go:build e2e

// Package e2e runs the exporter against the fake Ativo (cmd/fakeativo) with a real Prometheus
// loading the shipped alert rules and a real Alertmanager that notifies a webhook owned by the
// test. TestEndToEnd covers the single-site /metrics; TestEndToEndMultiSite one exporter
// serving two fake sites through /probe with the shipped multi-site scrape config. Run them
// with scripts/e2e.sh, which installs Prometheus and Alertmanager when absent.
//
// Everything listens on 127.0.0.1. Every process is started by the test and stopped by its
// PID when the test ends (and killed by the kernel if the test process dies first).
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	scrapeInterval = "2s"
	// The shipped rules' for: durations are minutes; this copy waits a few evaluations.
	testFor = "3s"
	// Allowed for one phase (alert to fire, queries to return data, ...).
	phaseTimeout = 90 * time.Second
)

// Grafana variables and their values in this test (besides $instance, set per run).
var grafanaVars = map[string]string{
	"__rate_interval": "20s",
	"__interval":      scrapeInterval,
	"__interval_ms":   "2000",
	"__range":         "5m",
	"__range_s":       "300",
	"__range_ms":      "300000",
}

// setUp checks that Prometheus and Alertmanager are installed and builds
// the binaries into a work folder; it returns the repository root and
// that folder.
func setUp(t *testing.T) (root, work string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"prometheus", "prometheus-alertmanager"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: run scripts/e2e.sh, which installs it", bin)
		}
	}
	work = t.TempDir()
	buildBinaries(t, root, work)
	return root, work
}

func TestEndToEnd(t *testing.T) {
	root, work := setUp(t)

	// Fake Ativo with a token of its own.
	tokenFile := filepath.Join(work, "token")
	writeFile(t, tokenFile, fmt.Sprintf("e2e-token-%d\n", time.Now().UnixNano()))
	fakeURL := startFake(t, work, "fakeativo", tokenFile)

	// The exporter, every collector on.
	exporterAddr := freeAddr(t)
	startProc(t, work, "ativo_exporter", filepath.Join(work, "ativo_exporter"),
		"--ativo.url="+fakeURL, "--ativo.platform=cloud", "--ativo.token-file="+tokenFile,
		"--collector.team", "--collector.version", "--collector.team-configurations",
		"--collector.programs", "--collector.periods",
		"--web.listen-address="+exporterAddr, "--log.level=debug")
	waitHTTP200(t, "http://"+exporterAddr+"/-/ready")

	hook := &webhook{}
	amAddr := startAlertmanager(t, work, hook, "[alertname, instance]")

	// Prometheus with the shipped rules, for: shortened.
	writeShortenedRules(t, root, work)
	writeFile(t, filepath.Join(work, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["%[2]s"]
scrape_configs:
  - job_name: ativo
    static_configs:
      - targets: ["%[3]s"]
`, scrapeInterval, amAddr, exporterAddr))
	prom := startPrometheus(t, work)

	if !t.Run("target up with every endpoint", func(t *testing.T) {
		waitFor(t, "the ativo target to be up", func() (struct{}, bool) {
			return struct{}{}, len(prom.query(t, `up{job="ativo"} == 1`)) == 1
		})
		waitFor(t, "ativo_up 1 with five endpoints up", func() (struct{}, bool) {
			up := prom.query(t, `ativo_up == 1`)
			eps := prom.query(t, `ativo_api_endpoint_up == 1`)
			return struct{}{}, len(up) == 1 && len(eps) == 5
		})
		var got []string
		for _, s := range prom.query(t, `ativo_api_endpoint_up`) {
			got = append(got, s.Metric["endpoint"])
		}
		slices.Sort(got)
		if want := []string{"periods", "programs", "team", "teams", "version"}; !slices.Equal(got, want) {
			t.Errorf("endpoint_up endpoints %v, want %v", got, want)
		}
	}) {
		return // later phases build on this one
	}

	if !t.Run("every dashboard query returns data", func(t *testing.T) {
		// As Grafana formats a regex variable for Prometheus: escaped, inside a PromQL string.
		// The site variable's All value: single-site series have no site label.
		vars := map[string]string{"instance": grafanaRegex(exporterAddr), "site": ".*"}
		maps.Copy(vars, grafanaVars)
		values := prom.labelValues(t, "instance", "ativo_up")
		if !slices.Contains(values, exporterAddr) {
			t.Errorf("instance variable (label_values(ativo_up, instance)) = %v, want %s among them", values, exporterAddr)
		}
		deadline := time.Now().Add(phaseTimeout)
		for _, q := range dashboardQueries(t, filepath.Join(root, "dashboards")) {
			expr := substitute(t, q.expr, vars)
			for {
				res := prom.query(t, expr)
				if len(res) > 0 {
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

	fake := &fakeControl{base: fakeURL}

	if !t.Run("revoked token fires AtivoTokenRevoked, not AtivoAPIDown", func(t *testing.T) {
		since := hook.len()
		fake.post(t, "/-/fake/token/revoke")
		waitFor(t, "AtivoTokenRevoked firing at the webhook", func() (struct{}, bool) {
			assertNotFiring(t, prom, hook, "AtivoAPIDown")
			return struct{}{}, hook.seen(since, "AtivoTokenRevoked", "firing")
		})
		// ativo_up is 0 right now, so AtivoAPIDown's own condition holds: only its
		// `unless` keeps it quiet. Give it a few more evaluations to misbehave.
		if len(prom.query(t, `ativo_up == 0`)) != 1 {
			t.Error("ativo_up is not 0 while the token is revoked")
		}
		prom.waitEvaluations(t, 5, func() { assertNotFiring(t, prom, hook, "AtivoAPIDown") })
		if am := alertmanagerAlerts(t, "http://"+amAddr, "AtivoAPIDown"); am > 0 {
			t.Errorf("Alertmanager holds %d AtivoAPIDown alert(s)", am)
		}
	}) {
		return // later phases build on this one
	}

	if !t.Run("restored token resolves AtivoTokenRevoked", func(t *testing.T) {
		since := hook.len()
		fake.post(t, "/-/fake/token/restore")
		waitFor(t, "AtivoTokenRevoked resolved at the webhook", func() (struct{}, bool) {
			return struct{}{}, hook.seen(since, "AtivoTokenRevoked", "resolved")
		})
	}) {
		return // later phases build on this one
	}

	t.Run("429s fire AtivoAPIRateLimited", func(t *testing.T) {
		since := hook.len()
		fake.post(t, "/-/fake/fault?endpoint=all&fault=429")
		waitFor(t, "AtivoAPIRateLimited firing at the webhook", func() (struct{}, bool) {
			assertNotFiring(t, prom, hook, "AtivoAPIDown")
			return struct{}{}, hook.seen(since, "AtivoAPIRateLimited", "firing")
		})
		fake.post(t, "/-/fake/fault?endpoint=all&fault=none")
	})

	if hook.seen(0, "AtivoAPIDown", "firing") {
		t.Error("AtivoAPIDown reached the webhook")
	}
}

// startAlertmanager starts the webhook receiver and an Alertmanager that notifies it quickly,
// grouping by groupBy (a YAML list), and returns Alertmanager's address.
func startAlertmanager(t *testing.T, work string, hook *webhook, groupBy string) string {
	t.Helper()
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	amAddr := freeAddr(t)
	amCfg := filepath.Join(work, "alertmanager.yml")
	writeFile(t, amCfg, fmt.Sprintf(`route:
  receiver: webhook
  group_by: %s
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: %s/
        send_resolved: true
`, groupBy, hookSrv.URL))
	startProc(t, work, "alertmanager", "prometheus-alertmanager",
		"--config.file="+amCfg, "--storage.path="+filepath.Join(work, "am-data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	waitHTTP200(t, "http://"+amAddr+"/-/ready")
	return amAddr
}

// writeShortenedRules writes the shipped alert rules to work/alerts.yml with every for:
// shortened to testFor.
func writeShortenedRules(t *testing.T, root, work string) {
	t.Helper()
	rules := readFile(t, filepath.Join(root, "deploy", "prometheus", "alerts.yml"))
	reFor := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`)
	if n, alerts := len(reFor.FindAllString(rules, -1)), strings.Count(rules, "- alert:"); n != alerts {
		t.Fatalf("alerts.yml: %d for: lines for %d alerts", n, alerts)
	}
	writeFile(t, filepath.Join(work, "alerts.yml"), reFor.ReplaceAllString(rules, "${1}"+testFor))
}

// startPrometheus starts Prometheus with work/prometheus.yml and waits until it is ready.
func startPrometheus(t *testing.T, work string) *promAPI {
	t.Helper()
	promAddr := freeAddr(t)
	startProc(t, work, "prometheus", "prometheus",
		"--config.file="+filepath.Join(work, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(work, "prom-data"),
		"--web.listen-address="+promAddr, "--rules.alert.resend-delay=1s")
	prom := &promAPI{base: "http://" + promAddr}
	waitHTTP200(t, prom.base+"/-/ready")
	return prom
}

// assertNotFiring fails the test if the alert is pending or firing in Prometheus or has
// reached the webhook.
func assertNotFiring(t *testing.T, prom *promAPI, hook *webhook, alert string) {
	t.Helper()
	if res := prom.query(t, `ALERTS{alertname="`+alert+`"}`); len(res) > 0 {
		t.Fatalf("%s is %s in Prometheus: %v", alert, res[0].Metric["alertstate"], res[0].Metric)
	}
	if hook.seen(0, alert, "firing") {
		t.Fatalf("%s reached the webhook", alert)
	}
}

// --- processes ---

// startProc starts a process whose output goes to work/<name>.log, and stops it by its PID
// when the test ends: SIGTERM, then SIGKILL after 10 s.
func startProc(t *testing.T, work, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(work, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("--- last lines of %s (pid %d) ---\n%s", name, cmd.Process.Pid, strings.Join(lines, "\n"))
		}
	})
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls cond every 200 ms until it reports true or phaseTimeout passes.
func waitFor[T any](t *testing.T, what string, cond func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(phaseTimeout)
	for {
		v, ok := cond()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", phaseTimeout, what)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func waitHTTP200(t *testing.T, u string) {
	t.Helper()
	waitFor(t, u+" to answer 200", func() (struct{}, bool) {
		resp, err := client.Get(u)
		if err != nil {
			return struct{}{}, false
		}
		resp.Body.Close()
		return struct{}{}, resp.StatusCode == http.StatusOK
	})
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --- fake Ativo control API ---

type fakeControl struct{ base string }

func (f *fakeControl) post(t *testing.T, path string) {
	t.Helper()
	resp, err := client.Post(f.base+path, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
}

// --- Prometheus HTTP API ---

type promAPI struct{ base string }

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

func (p *promAPI) query(t *testing.T, q string) []sample {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	getJSON(t, p.base+"/api/v1/query?query="+url.QueryEscape(q), &r)
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	if r.Data.ResultType == "scalar" {
		return []sample{{}}
	}
	var s []sample
	if err := json.Unmarshal(r.Data.Result, &s); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return s
}

func (p *promAPI) labelValues(t *testing.T, label, match string) []string {
	t.Helper()
	var r struct {
		Data []string `json:"data"`
	}
	getJSON(t, p.base+"/api/v1/label/"+label+"/values?match[]="+url.QueryEscape(match), &r)
	return r.Data
}

// waitEvaluations polls until the rule group has been evaluated n more times, calling
// check on every poll.
func (p *promAPI) waitEvaluations(t *testing.T, n int, check func()) {
	t.Helper()
	last := func() time.Time {
		var r struct {
			Data struct {
				Groups []struct {
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"groups"`
			} `json:"data"`
		}
		getJSON(t, p.base+"/api/v1/rules", &r)
		if len(r.Data.Groups) == 0 {
			t.Fatal("Prometheus has no rule group")
		}
		return r.Data.Groups[0].LastEvaluation
	}
	prev, seen := last(), 0
	waitFor(t, fmt.Sprintf("%d rule evaluations", n), func() (struct{}, bool) {
		check()
		if l := last(); l.After(prev) {
			prev, seen = l, seen+1
		}
		return struct{}{}, seen >= n
	})
}

func alertmanagerAlerts(t *testing.T, base, name string) int {
	t.Helper()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
	}
	getJSON(t, base+"/api/v2/alerts?filter="+url.QueryEscape(`alertname="`+name+`"`), &alerts)
	return len(alerts)
}

// --- webhook receiver ---

type notification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

type webhook struct {
	mu   sync.Mutex
	msgs []notification
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n notification
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.msgs = append(h.msgs, n)
	h.mu.Unlock()
}

func (h *webhook) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

// seen reports whether a notification from index since on carried the alert in that status.
func (h *webhook) seen(since int, alert, status string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.msgs[min(since, len(h.msgs)):] {
		for _, a := range n.Alerts {
			if a.Labels["alertname"] == alert && a.Status == status {
				return true
			}
		}
	}
	return false
}

// --- dashboards ---

type dashQuery struct{ dashboard, panel, expr string }

func dashboardQueries(t *testing.T, dir string) []dashQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s", dir)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var out []dashQuery
	for _, f := range files {
		var d struct {
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal([]byte(readFile(t, f)), &d); err != nil {
			t.Fatal(err)
		}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, tg := range p.Targets {
					out = append(out, dashQuery{filepath.Base(f), p.Title, tg.Expr})
				}
				var nested []panel
				for _, raw := range p.Panels {
					var np panel
					if err := json.Unmarshal(raw, &np); err == nil {
						nested = append(nested, np)
					}
				}
				walk(nested)
			}
		}
		walk(d.Panels)
	}
	if len(out) == 0 {
		t.Fatal("no dashboard queries")
	}
	return out
}

var reVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// substitute replaces Grafana variables ($x, ${x}, ${x:fmt}, [[x]]) in a query.
func substitute(t *testing.T, expr string, vars map[string]string) string {
	t.Helper()
	return reVar.ReplaceAllStringFunc(expr, func(m string) string {
		sm := reVar.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		v, ok := vars[name]
		if !ok {
			t.Errorf("query %q uses variable %s, which this test does not know", expr, name)
		}
		return v
	})
}
