package collector

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "s3cret-TOKEN-77d2e1"

// syncBuffer is a log sink safe for the collector's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t         *testing.T
	fake      *ativotest.Server
	srv       *httptest.Server
	clock     *ativotest.Clock
	client    *ativo.Client
	site      *Site
	logs      *syncBuffer
	tokenFile string
}

type envOpt func(*ativo.Config, *Options)

func withCollectors(names ...string) envOpt {
	return func(_ *ativo.Config, o *Options) {
		o.Enabled = map[string]bool{}
		for _, n := range names {
			o.Enabled[n] = true
		}
	}
}

var allCollectors = []string{CollectorTeam, CollectorVersion, CollectorTeamConfigurations, CollectorPrograms, CollectorPeriods}

// newEnv starts a fake Ativo and a site scraping it with a token file,
// a fake clock and a debug logger writing into a buffer.
func newEnv(t *testing.T, platform ativo.Platform, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, fake: ativotest.New(ativotest.WithToken(secret)), clock: ativotest.NewClock(time.Unix(1_780_000_000, 0)), logs: &syncBuffer{}}
	e.srv = httptest.NewServer(e.fake)
	e.tokenFile = filepath.Join(t.TempDir(), "token")
	e.writeToken(secret + "\n")
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := ativo.Config{
		URL: e.srv.URL, Platform: platform, Token: config.NewFileSecret(e.tokenFile),
		Clock: e.clock, Rand: func() float64 { return 0 }, Logger: logger, MaxResponseSize: 1 << 20,
	}
	o := Options{
		Enabled: map[string]bool{CollectorTeam: true, CollectorVersion: true},
		Timeout: 10 * time.Second, TimeoutOffset: 500 * time.Millisecond,
		// A fixed URL label keeps the golden files free of the random port.
		Platform: string(platform), URL: "https://ativo.example/" + string(platform),
		Clock: e.clock, Rand: func() float64 { return 0 }, Logger: logger,
	}
	for _, f := range opts {
		f(&cfg, &o)
	}
	c, err := ativo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	e.site = New(c, o)
	t.Cleanup(func() {
		e.fake.Close()
		e.srv.Close()
		c.CloseIdleConnections()
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the token appears in the logs:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) writeToken(s string) {
	e.t.Helper()
	if err := os.WriteFile(e.tokenFile, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// gather runs one collection and returns the exposition text.
func (e *env) gather() string {
	e.t.Helper()
	return gatherText(e.t, e.site)
}

func gatherText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	if strings.Contains(out, secret) {
		t.Fatalf("the token appears in the metrics:\n%s", out)
	}
	return out
}

// scrape serves one HTTP scrape through Site.Handler with the given
// scrape timeout header ("" for none).
func (e *env) scrape(ctx context.Context, timeoutHeader string) string {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil)
	if timeoutHeader != "" {
		req.Header.Set(ScrapeTimeoutHeader, timeoutHeader)
	}
	rec := httptest.NewRecorder()
	e.site.Handler(nil, promhttp.HandlerOpts{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		e.t.Errorf("scrape status %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

// compareGolden checks one collection against testdata/name.prom with
// testutil.CollectAndCompare; -update rewrites the file instead.
func (e *env) compareGolden(name string) {
	e.t.Helper()
	file := filepath.Join("testdata", name+".prom")
	if *update {
		if err := os.WriteFile(file, []byte(e.gather()), 0o644); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	f, err := os.Open(file)
	if err != nil {
		e.t.Fatalf("%v (run go test ./collector -update to create it)", err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(e.site, f); err != nil {
		e.t.Fatalf("%s: %v", file, err)
	}
}

// value returns the value of the series line starting with series in an
// exposition, or "" when absent.
func value(expo, series string) string {
	for line := range strings.SplitSeq(expo, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	return ""
}

func mustValue(t *testing.T, expo, series, want string) {
	t.Helper()
	if got := value(expo, series); got != want {
		t.Fatalf("%s = %q, want %q\n%s", series, got, want, expo)
	}
}
