package sites

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func TestParse(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "prod.token", "prod-token\n")
	writeFile(t, dir, "empty.token", " \n")
	writeFile(t, dir, "bad-ca.pem", "nope")
	env := func(k string) string {
		if k == "SANDBOX_TOKEN" {
			return "sandbox-token"
		}
		return ""
	}
	good := `sites:
  - name: prod
    url: https://cloud-api.ativo.io
    platform: auto
    token_file: prod.token
    timeout: 15s
    cache_ttl: 55s
    max_response_size: 32MiB
    collectors: [team, version, programs]
  - name: sandbox_2
    url: https://jira.example.com/jira/
    token_env: SANDBOX_TOKEN
`
	cfg, err := Parse([]byte(good), dir, env)
	if err != nil {
		t.Fatal(err)
	}
	prod, sb := cfg.Sites[0], cfg.Sites[1]
	if prod.Name != "prod" || prod.Platform != ativo.PlatformCloud || prod.TokenFile != filepath.Join(dir, "prod.token") ||
		prod.Timeout != 15*time.Second || prod.CacheTTL != 55*time.Second || prod.MaxResponseSize != 32<<20 ||
		strings.Join(prod.Collectors, ",") != "programs,team,version" {
		t.Errorf("prod: %+v", prod)
	}
	if sb.Platform != ativo.PlatformDataCenter || sb.URL != "https://jira.example.com/jira" || sb.Timeout != DefaultTimeout ||
		sb.MaxResponseSize != ativo.DefaultMaxResponseSize || strings.Join(sb.Collectors, ",") != "team,version" {
		t.Errorf("sandbox: %+v", sb)
	}

	site := func(extra string) string {
		return "sites:\n  - name: prod\n    url: https://cloud-api.ativo.io\n" + extra
	}
	tok := "    token_file: prod.token\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"empty file", ``, "no sites"},
		{"empty list", `sites: []`, "no sites"},
		{"unknown top-level key", "site:\n  - name: x\n", "parsing YAML"},
		{"not YAML", "sites: [", "parsing YAML"},
		{"unknown key", site(tok + "    tokenfile: x\n"), `sites[0] (prod): tokenfile: unknown key`},
		{"duplicate key", site(tok + "    url: https://x\n"), `sites[0] (prod): url: given twice`},
		{"duplicate name", site(tok) + "  - name: prod\n    url: https://x\n" + tok, `sites[1] (prod): name: duplicate site name "prod"`},
		{"bad name", "sites:\n  - name: Prod\n    url: https://x\n" + tok, `sites[0]: name: "Prod" must match`},
		{"missing name", "sites:\n  - url: https://x\n" + tok, `sites[0]: name: "" must match`},
		{"name too long", "sites:\n  - name: " + strings.Repeat("a", 64) + "\n    url: https://x\n" + tok, "name:"},
		{"no token", site(""), "sites[0] (prod): token_file, token_env: no token source"},
		{"two tokens", site(tok + "    token_env: SANDBOX_TOKEN\n"), "two token sources"},
		{"unreadable token", site("    token_file: missing.token\n"), "sites[0] (prod): token_file: cannot read the token"},
		{"empty token", site("    token_file: empty.token\n"), "token_file: " + filepath.Join(dir, "empty.token") + " is empty"},
		{"unset token env", site("    token_env: NOPE\n"), "token_env: environment variable NOPE is unset or empty"},
		{"missing url", "sites:\n  - name: prod\n" + tok, "url: missing"},
		{"bad url", "sites:\n  - name: prod\n    url: ftp://x\n" + tok, "sites[0] (prod): url: invalid URL"},
		{"bad platform", site(tok + "    platform: server\n"), `sites[0] (prod): platform: unknown platform "server"`},
		{"bad collector", site(tok + "    collectors: [team, sprints]\n"), "sites[0] (prod): collectors: unknown collector sprints"},
		{"collectors not a list", site(tok + "    collectors: team\n"), "collectors: want a list"},
		{"empty collectors", site(tok + "    collectors: []\n"), "collectors: empty"},
		{"bad timeout", site(tok + "    timeout: soon\n"), `sites[0] (prod): timeout: invalid duration "soon"`},
		{"go duration not prometheus", site(tok + "    timeout: 0.5s\n"), "timeout: invalid duration"},
		{"zero timeout", site(tok + "    timeout: 0s\n"), "timeout: must be above 0s"},
		{"bad cache ttl", site(tok + "    cache_ttl: [1]\n"), "cache_ttl: want a duration"},
		{"bad size", site(tok + "    max_response_size: big\n"), "max_response_size: invalid size"},
		{"bad ca file", site(tok + "    ca_file: bad-ca.pem\n"), "sites[0] (prod): ca_file: no PEM certificate"},
		{"site not a map", "sites:\n  - prod\n", "parsing YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), dir, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// fakeSite is a fake Ativo with its own token on its own server.
type fakeSite struct {
	fake  *ativotest.Server
	srv   *httptest.Server
	token string
}

func newFakeSite(t *testing.T, token string) *fakeSite {
	t.Helper()
	f := &fakeSite{fake: ativotest.New(ativotest.WithToken(token)), token: token}
	f.srv = httptest.NewServer(f.fake)
	t.Cleanup(func() {
		f.fake.Close()
		f.srv.Close()
	})
	return f
}

type probeEnv struct {
	t    *testing.T
	dir  string
	reg  *Registry
	file string
}

func newProbeEnv(t *testing.T) *probeEnv {
	p := &probeEnv{t: t, dir: t.TempDir()}
	p.reg = NewRegistry(Options{TimeoutOffset: 500 * time.Millisecond, Getenv: noEnv})
	t.Cleanup(p.reg.Close)
	return p
}

// load writes a sites file and applies it.
func (p *probeEnv) load(yaml string) error {
	p.t.Helper()
	p.file = writeFile(p.t, p.dir, "sites.yml", yaml)
	cfg, err := Load(p.file, noEnv)
	if err != nil {
		return err
	}
	return p.reg.Apply(cfg)
}

func (p *probeEnv) siteYAML(name string, f *fakeSite, extra string) string {
	tok := writeFile(p.t, p.dir, name+".token", f.token)
	return "  - name: " + name + "\n    url: " + f.srv.URL + "\n    platform: cloud\n    token_file: " + tok + "\n" + extra
}

func (p *probeEnv) probe(ctx context.Context, target, timeout string) (int, string) {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/probe?target="+target, nil)
	if timeout != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
	}
	rec := httptest.NewRecorder()
	p.reg.ProbeHandler(promhttp.HandlerOpts{}).ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestProbeIsolatesSites(t *testing.T) {
	healthy := newFakeSite(t, "token-of-healthy")
	hanging := newFakeSite(t, "token-of-hanging")
	hanging.fake.SetFault(ativotest.All, ativotest.FaultSlow)
	p := newProbeEnv(t)
	if err := p.load("sites:\n" + p.siteYAML("healthy", healthy, "") + p.siteYAML("hanging", hanging, "    timeout: 2s\n")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var hangingBody string
	wg.Go(func() { _, hangingBody = p.probe(context.Background(), "hanging", "") })
	// Wait until the hanging site is really hanging before probing the
	// healthy one.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hanging.fake.WaitRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, body := p.probe(context.Background(), "healthy", "")
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("the healthy site took %v while the other hung", elapsed)
	}
	if code != 200 || !strings.Contains(body, "\nativo_up 1\n") || !strings.Contains(body, "\nativo_teams 12\n") {
		t.Fatalf("healthy probe %d:\n%s", code, body)
	}
	// Only the site's ativo_* metrics: no build info, Go or process metrics.
	for line := range strings.SplitSeq(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "ativo_") && !strings.HasPrefix(line, "# HELP ativo_") && !strings.HasPrefix(line, "# TYPE ativo_") {
			t.Fatalf("probe output has %q", line)
		}
	}
	if strings.Contains(body, "ativo_exporter_build_info") || strings.Contains(body, `site="`) {
		t.Fatal("probe output carries exporter metrics or a site label")
	}
	wg.Wait()
	if !strings.Contains(hangingBody, "\nativo_up 0\n") || !strings.Contains(hangingBody, `ativo_api_request_failures_total{cause="timeout",endpoint="team"} 1`) {
		t.Fatalf("hanging probe:\n%s", hangingBody)
	}
	// Each site's counters are its own.
	if strings.Contains(body, `cause="timeout",endpoint="team"} 1`) {
		t.Fatal("the healthy site shows the other site's failure")
	}
	// Tokens never cross sites.
	for _, a := range healthy.fake.Authorizations() {
		if a != "Bearer token-of-healthy" {
			t.Errorf("healthy site received %q", a)
		}
	}
	for _, a := range hanging.fake.Authorizations() {
		if a != "Bearer token-of-hanging" {
			t.Errorf("hanging site received %q", a)
		}
	}
}

func TestProbeRejectsUnknownAndURLTargets(t *testing.T) {
	f := newFakeSite(t, "tok")
	p := newProbeEnv(t)
	if err := p.load("sites:\n" + p.siteYAML("prod", f, "")); err != nil {
		t.Fatal(err)
	}
	// A listener that fails the test if anything reaches it.
	trap := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		t.Errorf("outbound request to a URL from the query string: %s", r.URL)
	}))
	defer trap.Close()
	for target, want := range map[string]string{
		"":                              "missing target",
		"sandbox":                       `unknown target "sandbox"`,
		trap.URL:                        "invalid target",
		"http%3A%2F%2F127.0.0.1%3A1%2F": "invalid target",
		"prod%2F..%2Fx":                 "invalid target",
		strings.Repeat("a", 200):        "invalid target",
		"prod&target=" + trap.URL:       "", // the first target wins: prod
		"PROD":                          "invalid target",
		"prod%0Ainjected":               "invalid target",
		"..%2F..%2Fetc%2Fpasswd":        "invalid target",
		"127.0.0.1:" + trap.URL[len(trap.URL)-5:]: "invalid target",
	} {
		code, body := p.probe(context.Background(), target, "")
		if want == "" {
			if code != 200 {
				t.Errorf("%q: %d %s", target, code, body)
			}
			continue
		}
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%q: %d %q, want 400 with %q", target, code, body, want)
		}
		if len(body) > 300 {
			t.Errorf("%q: the error echoes too much input: %d bytes", target, len(body))
		}
	}
	if got := f.fake.TotalRequests(); got != 2 {
		t.Errorf("the site got %d requests, want 2 (one probe)", got)
	}
}

func TestProbeHonoursScrapeTimeout(t *testing.T) {
	f := newFakeSite(t, "tok")
	f.fake.SetFault(ativotest.All, ativotest.FaultSlow)
	p := newProbeEnv(t)
	if err := p.load("sites:\n" + p.siteYAML("prod", f, "    timeout: 30s\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, body := p.probe(context.Background(), "prod", "1.5") // deadline 1 s
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("probe took %v with a 1 s deadline", elapsed)
	}
	if !strings.Contains(body, "\nativo_up 0\n") {
		t.Fatalf("%s", body)
	}
}

func TestReloadKeepsUnchangedSites(t *testing.T) {
	a := newFakeSite(t, "tok-a")
	b := newFakeSite(t, "tok-b")
	p := newProbeEnv(t)
	siteA := p.siteYAML("a", a, "")
	if err := p.load("sites:\n" + siteA + p.siteYAML("b", b, "")); err != nil {
		t.Fatal(err)
	}
	p.probe(context.Background(), "a", "")
	p.probe(context.Background(), "b", "")
	before, _ := p.reg.Site("a")
	beforeB, _ := p.reg.Site("b")

	// A bad file is rejected and the previous sites keep serving.
	if err := p.load("sites:\n" + siteA + "  - name: b\n    url: ftp://nope\n"); err == nil {
		t.Fatal("bad file accepted")
	}
	if names := strings.Join(p.reg.Names(), ","); names != "a,b" {
		t.Fatalf("after a bad file: %s", names)
	}

	// b changes, a does not: a keeps its state (counters), b starts afresh.
	if err := p.load("sites:\n" + siteA + p.siteYAML("b", b, "    cache_ttl: 1m\n") + p.siteYAML("c", a, "")); err != nil {
		t.Fatal(err)
	}
	after, _ := p.reg.Site("a")
	afterB, _ := p.reg.Site("b")
	if after != before {
		t.Error("an unchanged site was rebuilt")
	}
	if afterB == beforeB {
		t.Error("a changed site kept its old settings")
	}
	_, body := p.probe(context.Background(), "a", "")
	if !strings.Contains(body, `ativo_api_requests_total{code="200",endpoint="team"} 2`) {
		t.Fatalf("site a lost its counters:\n%s", body)
	}
	_, body = p.probe(context.Background(), "b", "")
	if !strings.Contains(body, `ativo_api_requests_total{code="200",endpoint="team"} 1`) {
		t.Fatalf("site b did not start afresh:\n%s", body)
	}
	if names := strings.Join(p.reg.Names(), ","); names != "a,b,c" {
		t.Fatalf("names %s", names)
	}
	// Dropping a site.
	if err := p.load("sites:\n" + siteA); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.probe(context.Background(), "b", ""); code != http.StatusBadRequest {
		t.Fatalf("a dropped site still answers: %d", code)
	}
}
