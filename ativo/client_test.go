package ativo_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"go.uber.org/goleak"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "s3cret-TOKEN-4f9a0c"

type harness struct {
	fake   *ativotest.Server
	srv    *httptest.Server
	clock  *ativotest.Clock
	client *ativo.Client
	logs   *bytes.Buffer
	reqs   []ativo.RequestInfo
}

type opt func(*ativo.Config)

func newHarness(t *testing.T, platform ativo.Platform, opts ...opt) *harness {
	t.Helper()
	h := &harness{fake: ativotest.New(ativotest.WithToken(secret)), clock: ativotest.NewClock(time.Now()), logs: &bytes.Buffer{}}
	h.srv = httptest.NewServer(h.fake)
	t.Cleanup(func() {
		h.fake.Close()
		h.srv.Close()
	})
	cfg := ativo.Config{
		URL:       h.srv.URL + "/jira/",
		Platform:  platform,
		Token:     config.NewInlineSecret(secret),
		UserAgent: "ativo_exporter/test",
		Clock:     h.clock,
		Rand:      func() float64 { return 0.5 },
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := ativo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	h.client = c
	return h
}

// ctx carries an observer recording every request and a deadline.
func (h *harness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ativo.WithObserver(ctx, func(ri ativo.RequestInfo) { h.reqs = append(h.reqs, ri) })
}

// noSecret fails the test when the token shows up in s.
func noSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, secret) {
		t.Fatalf("the token appears in %s: %s", what, s)
	}
}

func TestEndpointsOnBothPlatforms(t *testing.T) {
	for _, p := range []ativo.Platform{ativo.PlatformCloud, ativo.PlatformDataCenter} {
		t.Run(string(p), func(t *testing.T) {
			h := newHarness(t, p)
			ctx := h.ctx(t)
			n, err := h.client.TeamCount(ctx)
			if err != nil || n != 12 {
				t.Fatalf("TeamCount = %d, %v", n, err)
			}
			sum, err := h.client.Teams(ctx)
			if err != nil || sum.Total != 12 || sum.Configs[ativo.TeamConfig{Type: "BOARD", Archived: "false"}] != 6 {
				t.Fatalf("Teams = %+v, %v", sum, err)
			}
			progs, err := h.client.Programs(ctx)
			if err != nil || progs.ByArchived["false"] != 2 || progs.ByArchived["true"] != 1 {
				t.Fatalf("Programs = %+v, %v", progs, err)
			}
			periods, err := h.client.Periods(ctx)
			if err != nil || periods.ByArchived["false"] != 3 || periods.ByArchived["true"] != 1 {
				t.Fatalf("Periods = %+v, %v", periods, err)
			}
			v, err := h.client.ModelVersion(ctx)
			if err != nil || v.Version != 9 {
				t.Fatalf("ModelVersion = %+v, %v", v, err)
			}
			// Data Center has no index and no version endpoint (fake
			// defaults): team count falls back to /teams, the version
			// comes from the 404's header.
			wantAbsent := p == ativo.PlatformDataCenter
			if v.Absent != wantAbsent {
				t.Fatalf("version Absent = %v, want %v", v.Absent, wantAbsent)
			}
			wantTeamIndex := 1
			if wantAbsent {
				wantTeamIndex = 1 // the 404 that triggered the fallback
				if got := h.fake.Requests(ativo.PathTeams); got != 2 {
					t.Errorf("/teams requests = %d, want 2 (fallback + Teams)", got)
				}
			}
			if got := h.fake.Requests(ativo.PathTeamIndex); got != wantTeamIndex {
				t.Errorf("/team requests = %d, want %d", got, wantTeamIndex)
			}
			for _, ri := range h.reqs {
				if ri.ModelVersion != 9 {
					t.Errorf("request %+v: header model version not read", ri)
				}
			}
			for _, a := range h.fake.Authorizations() {
				if a != "Bearer "+secret {
					t.Errorf("Authorization = %q", a)
				}
			}
		})
	}
}

func TestPrefixAndContextPath(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		if r.Header.Get("User-Agent") != "ativo_exporter/1.2.3" {
			t.Errorf("User-Agent = %q", r.Header.Get("User-Agent"))
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		url  string
		p    ativo.Platform
		want string
	}{
		{srv.URL, ativo.PlatformCloud, "/rest/api/1/teams"},
		{srv.URL + "/jira/", ativo.PlatformDataCenter, "/jira/rest/ativo-programs/1.0/api/1/teams"},
		{srv.URL + "/", ativo.PlatformAuto, "/rest/ativo-programs/1.0/api/1/teams"},
	} {
		c, err := ativo.New(ativo.Config{URL: tc.url, Platform: tc.p, Token: config.NewInlineSecret("x"), UserAgent: "ativo_exporter/1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		paths = nil
		if _, err := c.Teams(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.CloseIdleConnections()
		if len(paths) != 1 || paths[0] != tc.want {
			t.Errorf("%s (%s): paths %v, want %s", tc.url, tc.p, paths, tc.want)
		}
	}
}

func TestResolvePlatform(t *testing.T) {
	for raw, want := range map[string]ativo.Platform{
		"https://cloud-api.ativo.io":  ativo.PlatformCloud,
		"https://CLOUD-API.ativo.io/": ativo.PlatformCloud,
		"https://jira.example.com":    ativo.PlatformDataCenter,
		"http://127.0.0.1:8080/jira":  ativo.PlatformDataCenter,
	} {
		u, err := ativo.ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := ativo.ResolvePlatform(ativo.PlatformAuto, u); got != want {
			t.Errorf("%s: %s, want %s", raw, got, want)
		}
	}
}

func TestParseURLRejectsAndStrips(t *testing.T) {
	for _, bad := range []string{"", "cloud-api.ativo.io", "ftp://x", "https://", "https://x/?a=1", "https://x/#f", "http://[::1", "https://user:pa ss@x/%zz"} {
		if _, err := ativo.ParseURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "pa ss") {
			t.Errorf("%q: error repeats the credentials: %v", bad, err)
		}
	}
	u, err := ativo.ParseURL("https://admin:" + secret + "@jira.example.com/jira/")
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "the parsed URL", u.String())
	if u.String() != "https://jira.example.com/jira" {
		t.Errorf("got %s", u)
	}
}

func TestFallbackIsRememberedAndRecheckedHourly(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetMissing(ativo.CloudPrefix, ativo.PathPrograms, true)
	ctx := h.ctx(t)
	call := func() {
		t.Helper()
		ac, err := h.client.Programs(ctx)
		if err != nil || ac.Total != 3 || ac.ByArchived[""] != 3 {
			t.Fatalf("Programs = %+v, %v (index items carry no archived flag)", ac, err)
		}
	}
	call()
	call()
	if got := h.fake.Requests(ativo.PathPrograms); got != 1 {
		t.Fatalf("/programs requests = %d, want 1: the 404 is remembered", got)
	}
	if got := h.fake.Requests(ativo.PathProgramIndex); got != 2 {
		t.Fatalf("/program requests = %d, want 2", got)
	}
	h.clock.Advance(61 * time.Minute)
	h.fake.SetMissing(ativo.CloudPrefix, ativo.PathPrograms, false)
	ac, err := h.client.Programs(ctx)
	if err != nil || ac.ByArchived["false"] != 2 {
		t.Fatalf("after recheck: %+v, %v", ac, err)
	}
	if got := h.fake.Requests(ativo.PathPrograms); got != 2 {
		t.Fatalf("/programs requests = %d, want 2: rechecked after an hour", got)
	}
}

func TestVersionEndpoint404IsRememberedAndNotAnError(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetMissing(ativo.CloudPrefix, ativo.PathModelVersion, true)
	h.fake.SetModelVersion(10, true, ativotest.VersionNumber)
	ctx := h.ctx(t)
	v, err := h.client.ModelVersion(ctx)
	if err != nil || !v.Absent || !v.Requested || v.Version != 10 {
		t.Fatalf("first: %+v, %v; want absent, requested, header version 10", v, err)
	}
	v, err = h.client.ModelVersion(ctx)
	if err != nil || !v.Absent || v.Requested {
		t.Fatalf("second: %+v, %v; want absent without a request", v, err)
	}
	if got := h.fake.Requests(ativo.PathModelVersion); got != 1 {
		t.Fatalf("version requests = %d, want 1", got)
	}
	h.clock.Advance(time.Hour)
	h.fake.SetMissing(ativo.CloudPrefix, ativo.PathModelVersion, false)
	if v, err = h.client.ModelVersion(ctx); err != nil || v.Absent || v.Version != 10 {
		t.Fatalf("after recheck: %+v, %v", v, err)
	}
}

func TestVersionBodyFormats(t *testing.T) {
	for _, f := range []ativotest.VersionFormat{ativotest.VersionNumber, ativotest.VersionString, ativotest.VersionObject} {
		h := newHarness(t, ativo.PlatformCloud)
		h.fake.SetModelVersion(11, false, f)
		v, err := h.client.ModelVersion(h.ctx(t))
		if err != nil || v.Version != 11 {
			t.Errorf("format %d: %+v, %v", f, v, err)
		}
	}
}

func TestFaultsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		fault  ativotest.Fault
		cause  ativo.Cause
		status int
	}{
		{ativotest.Fault400, ativo.CauseClientError, 400},
		{ativotest.Fault401, ativo.CauseAuth, 401},
		{ativotest.Fault403, ativo.CauseAuth, 403},
		{ativotest.Fault500, ativo.CauseServerError, 500},
		{ativotest.Fault503, ativo.CauseServerError, 503},
		{ativotest.FaultMalformed, ativo.CauseDecode, 200},
		{ativotest.FaultTruncated, ativo.CauseNetwork, 200},
		{ativotest.FaultOversized, ativo.CauseTooLarge, 200},
		{ativotest.FaultHTML, ativo.CauseAuth, 200},
		{ativotest.FaultEmpty, ativo.CauseDecode, 200},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			h := newHarness(t, ativo.PlatformCloud, func(c *ativo.Config) { c.MaxResponseSize = 1 << 20 })
			h.fake.SetOversize(4 << 20)
			h.fake.SetFault(ativotest.All, tc.fault)
			ctx := h.ctx(t)
			_, err := h.client.Teams(ctx)
			if got := ativo.CauseOf(err); got != tc.cause {
				t.Fatalf("cause = %q, want %q (err %v)", got, tc.cause, err)
			}
			if got := ativo.StatusOf(err); got != tc.status {
				t.Fatalf("status = %d, want %d", got, tc.status)
			}
			if h.fake.Requests(ativo.PathTeams) != 1 {
				t.Fatalf("requests = %d, want 1 (no retry)", h.fake.Requests(ativo.PathTeams))
			}
			noSecret(t, "the error", err.Error())
			noSecret(t, "the debug log", h.logs.String())
			if len(h.reqs) != 1 || h.reqs[0].Status != tc.status {
				t.Fatalf("observed %+v", h.reqs)
			}
		})
	}
}

func TestNotFoundWithoutFallback(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetFault(ativotest.All, ativotest.Fault404)
	_, err := h.client.TeamCount(h.ctx(t))
	if ativo.CauseOf(err) != ativo.CauseNotFound {
		t.Fatalf("got %v", err)
	}
	if h.fake.Requests(ativo.PathTeamIndex) != 1 || h.fake.Requests(ativo.PathTeams) != 1 {
		t.Fatalf("requests %v: want the index once and the fallback once", h.fake.RequestCounts())
	}
}

func TestRetriesOn429WithinTheDeadline(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetFaultN(ativo.PathTeams, ativotest.Fault429, 2)
	sum, err := h.client.Teams(h.ctx(t))
	if err != nil || sum.Total != 12 {
		t.Fatalf("Teams = %+v, %v", sum, err)
	}
	// Rand is fixed at 0.5: jitter 1.15.
	want := []time.Duration{1150 * time.Millisecond, 2300 * time.Millisecond}
	if got := h.clock.Waits(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("waits = %v, want %v", got, want)
	}
	if h.fake.Requests(ativo.PathTeams) != 3 {
		t.Fatalf("requests = %d, want 3", h.fake.Requests(ativo.PathTeams))
	}
}

func TestRetriesStopBeforeTheDeadline(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetFault(ativotest.All, ativotest.Fault429)
	// The context deadline is on the wall clock; the fake clock starts at
	// the wall time, so 10 s leave room for 1.15+2.3+4.6 s of waits but
	// not for the fourth (9.2 s).
	_, err := h.client.Teams(h.ctx(t))
	if ativo.CauseOf(err) != ativo.CauseRateLimited || ativo.StatusOf(err) != 429 {
		t.Fatalf("got %v", err)
	}
	if got := len(h.clock.Waits()); got != 3 {
		t.Fatalf("waits = %v, want 3", h.clock.Waits())
	}
	if h.fake.Requests(ativo.PathTeams) != 4 {
		t.Fatalf("requests = %d, want 4", h.fake.Requests(ativo.PathTeams))
	}
}

func TestRetriesAtMostFive(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetFault(ativotest.All, ativotest.Fault429)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_, err := h.client.Teams(ctx)
	if ativo.CauseOf(err) != ativo.CauseRateLimited {
		t.Fatalf("got %v", err)
	}
	if h.fake.Requests(ativo.PathTeams) != 6 {
		t.Fatalf("requests = %d, want 6 (1 + 5 retries)", h.fake.Requests(ativo.PathTeams))
	}
}

func TestTokenFileIsReadOnEveryRequest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  old-token\n")
	h := newHarness(t, ativo.PlatformCloud, func(c *ativo.Config) { c.Token = config.NewFileSecret(file) })
	h.fake.SetToken("old-token")
	ctx := h.ctx(t)
	fp1, err := h.client.TokenFingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.Teams(ctx); err != nil {
		t.Fatalf("with the old token: %v", err)
	}
	h.fake.SetToken("new-token")
	if _, err := h.client.Teams(ctx); ativo.CauseOf(err) != ativo.CauseAuth {
		t.Fatalf("after rotation at the server: %v", err)
	}
	write("new-token")
	if _, err := h.client.Teams(ctx); err != nil {
		t.Fatalf("after rotating the file: %v", err)
	}
	fp2, _ := h.client.TokenFingerprint(ctx)
	if fp1 == fp2 {
		t.Fatal("fingerprint did not change with the token")
	}
	write("")
	before := h.fake.TotalRequests()
	_, err = h.client.Teams(ctx)
	if ativo.CauseOf(err) != ativo.CauseNoToken {
		t.Fatalf("empty token file: %v", err)
	}
	if _, err := h.client.TokenFingerprint(ctx); !errors.Is(err, ativo.ErrNoToken) {
		t.Fatalf("fingerprint of an empty file: %v", err)
	}
	os.Remove(file)
	if _, err = h.client.Teams(ctx); ativo.CauseOf(err) != ativo.CauseNoToken {
		t.Fatalf("missing token file: %v", err)
	}
	if h.fake.TotalRequests() != before {
		t.Fatal("a request was sent without a token")
	}
}

func TestRedirectToAnotherHostDropsTheToken(t *testing.T) {
	other := ativotest.New(ativotest.WithToken(secret))
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	defer other.Close()
	h := newHarness(t, ativo.PlatformCloud)
	// Same port, other host name: 127.0.0.1 redirects to localhost.
	h.fake.SetRedirect(strings.Replace(otherSrv.URL, "127.0.0.1", "localhost", 1))
	h.fake.SetFault(ativotest.All, ativotest.FaultRedirect)
	_, err := h.client.Teams(h.ctx(t))
	if ativo.CauseOf(err) != ativo.CauseAuth || ativo.StatusOf(err) != 401 {
		t.Fatalf("got %v: the other host must see no token and answer 401", err)
	}
	if got := other.Authorizations(); len(got) != 1 || got[0] != "" {
		t.Fatalf("the other host received Authorization %q", got)
	}
	noSecret(t, "the error", err.Error())
}

func TestRedirectToTheSameHostKeepsTheToken(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetRedirect(h.srv.URL + "/moved")
	h.fake.SetFaultN(ativotest.All, ativotest.FaultRedirect, 1)
	// /moved/jira/rest/api/1/teams still holds the cloud prefix.
	if _, err := h.client.Teams(h.ctx(t)); err != nil {
		t.Fatalf("got %v", err)
	}
}

func TestNoDowngradeFromHTTPSToHTTP(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("plain HTTP server was called with %q", r.Header.Get("Authorization"))
	}))
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x", http.StatusFound))
	defer tlsSrv.Close()
	tr := tlsSrv.Client().Transport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	c, err := ativo.New(ativo.Config{URL: tlsSrv.URL, Platform: ativo.PlatformCloud, Token: config.NewInlineSecret(secret), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Teams(context.Background())
	if ativo.CauseOf(err) != ativo.CauseNetwork {
		t.Fatalf("got %v", err)
	}
}

func TestTooLargeByContentLength(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud, func(c *ativo.Config) { c.MaxResponseSize = 100 })
	_, err := h.client.Teams(h.ctx(t))
	if ativo.CauseOf(err) != ativo.CauseTooLarge {
		t.Fatalf("got %v", err)
	}
}

func TestTimeoutAndNetworkErrors(t *testing.T) {
	h := newHarness(t, ativo.PlatformCloud)
	h.fake.SetFault(ativotest.All, ativotest.FaultSlow)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.client.Teams(ctx)
	if ativo.CauseOf(err) != ativo.CauseTimeout || ativo.StatusOf(err) != 0 {
		t.Fatalf("slow: %v", err)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := ativo.New(ativo.Config{URL: url, Platform: ativo.PlatformCloud, Token: config.NewInlineSecret(secret)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Teams(context.Background())
	if ativo.CauseOf(err) != ativo.CauseNetwork {
		t.Fatalf("closed port: %v", err)
	}
	noSecret(t, "the error", err.Error())
}

func TestLoginPageDetectedByContentTypeOrBody(t *testing.T) {
	for _, tc := range []struct{ ctype, body string }{
		{"text/html", `[]`},
		{"application/json", "\n  <html><body>Log in</body></html>"},
		{"", "\xef\xbb\xbf<!DOCTYPE html>"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if tc.ctype != "" {
				w.Header().Set("Content-Type", tc.ctype)
			}
			_, _ = w.Write([]byte(tc.body))
		}))
		c, _ := ativo.New(ativo.Config{URL: srv.URL, Platform: ativo.PlatformCloud, Token: config.NewInlineSecret(secret)})
		_, err := c.Teams(context.Background())
		c.CloseIdleConnections()
		srv.Close()
		if ativo.CauseOf(err) != ativo.CauseAuth || !errors.Is(err, ativo.ErrLoginPage) {
			t.Errorf("%+v: got %v", tc, err)
		}
	}
}

func TestRedact(t *testing.T) {
	got := ativo.Redact([]byte("invalid token "+secret+"\nAuthorization: Bearer abc.def\x00"), secret, 200)
	noSecret(t, "the excerpt", got)
	if strings.Contains(got, "abc.def") || strings.Contains(got, "\x00") {
		t.Fatalf("not redacted: %q", got)
	}
	if got := ativo.Redact(bytes.Repeat([]byte("é"), 100), "", 11); len(got) > 11+len("…") {
		t.Fatalf("not cut: %q", got)
	}
}

func TestErrorTextNamesEndpointAndStatus(t *testing.T) {
	h := newHarness(t, ativo.PlatformDataCenter)
	h.fake.SetFault(ativotest.All, ativotest.Fault500)
	_, err := h.client.Teams(h.ctx(t))
	want := "ativo teams: GET /rest/ativo-programs/1.0/api/1/teams: HTTP 500: server_error"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}
