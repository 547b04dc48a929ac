package collector

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

func TestDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 10 * time.Second},
		{"5", 4500 * time.Millisecond},
		{"15", 10 * time.Second}, // capped by --ativo.timeout
		{"2.5", 2 * time.Second},
		{"0.5", 10 * time.Second}, // not above the offset
		{"0.4", 10 * time.Second},
		{"abc", 10 * time.Second},
		{"-3", 10 * time.Second},
		{"NaN", 10 * time.Second},
		{"+Inf", 10 * time.Second},
		{"1e400", 10 * time.Second},
		{" 3 ", 2500 * time.Millisecond},
	} {
		if got := Deadline(now, tc.header, 10*time.Second, 500*time.Millisecond).Sub(now); got != tc.want {
			t.Errorf("header %q: %v, want %v", tc.header, got, tc.want)
		}
	}
}

// Twenty scrapes that overlap share one collection: one upstream request
// per endpoint, and every scrape gets the full answer.
func TestOverlappingScrapesShareOneCollection(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(allCollectors...))
	waiting := make(chan struct{}, 100)
	e.site.onWait = func() { waiting <- struct{}{} }
	release := e.fake.Hold()
	defer release()

	const n = 20
	results := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = e.scrape(context.Background(), "10") })
	}
	for range n {
		<-waiting
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.fake.WaitRequests(ctx, 4); err != nil { // teams, version, programs, periods
		t.Fatal(err)
	}
	release()
	wg.Wait()
	for path, got := range e.fake.RequestCounts() {
		if got != 1 {
			t.Errorf("%s: %d requests, want 1", path, got)
		}
	}
	if len(e.fake.RequestCounts()) != 4 {
		t.Errorf("requests: %v", e.fake.RequestCounts())
	}
	for i, r := range results {
		if value(r, "ativo_up") != "1" || value(r, "ativo_teams") != "12" {
			t.Fatalf("scrape %d: %s", i, r)
		}
	}
}

// A scrape that joins with a shorter timeout answers by its own deadline
// with ativo_up 0 and no counts, while the leader still gets the data.
func TestJoiningScrapeKeepsItsOwnDeadline(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud)
	waiting := make(chan struct{}, 10)
	e.site.onWait = func() { waiting <- struct{}{} }
	release := e.fake.Hold()
	defer release()

	leader := make(chan string, 1)
	go func() { leader <- e.scrape(context.Background(), "10") }()
	<-waiting
	start := time.Now()
	joiner := e.scrape(context.Background(), "1") // deadline 0.5 s
	elapsed := time.Since(start)
	if elapsed > 1500*time.Millisecond {
		t.Fatalf("the joining scrape took %v, its deadline was 0.5 s", elapsed)
	}
	mustValue(t, joiner, "ativo_up", "0")
	mustValue(t, joiner, "ativo_teams", "")
	mustValue(t, joiner, `ativo_api_endpoint_up{endpoint="team"}`, "0")
	mustValue(t, joiner, `ativo_api_request_failures_total{cause="timeout",endpoint="team"}`, "0")
	release()
	l := <-leader
	mustValue(t, l, "ativo_up", "1")
	mustValue(t, l, "ativo_teams", "12")
	if got := e.fake.TotalRequests(); got != 2 {
		t.Fatalf("requests = %d, want 2", got)
	}
}

// A hung upstream: the scrape answers by its deadline with cause timeout,
// and the next scrape starts a new collection.
func TestHangingUpstreamAnswersByTheDeadline(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud)
	e.fake.SetFault(ativotest.All, ativotest.FaultSlow)
	for i := 1; i <= 2; i++ {
		start := time.Now()
		out := e.scrape(context.Background(), "1.5") // deadline 1 s
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Fatalf("scrape %d took %v with a 1 s deadline", i, elapsed)
		}
		mustValue(t, out, "ativo_up", "0")
		mustValue(t, out, `ativo_api_request_failures_total{cause="timeout",endpoint="team"}`, fmt.Sprint(i))
		mustValue(t, out, `ativo_api_request_failures_total{cause="timeout",endpoint="version"}`, fmt.Sprint(i))
	}
	if got := e.fake.TotalRequests(); got != 4 {
		t.Fatalf("requests = %d, want 4: each scrape starts a new collection", got)
	}
}

// A scrape whose client goes away does not fail the shared collection.
func TestDisconnectedScrapeDoesNotCancelTheCollection(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud)
	waiting := make(chan struct{}, 10)
	e.site.onWait = func() { waiting <- struct{}{} }
	release := e.fake.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan struct{})
	go func() {
		defer close(first)
		e.scrape(ctx, "10")
	}()
	<-waiting
	second := make(chan string, 1)
	go func() { second <- e.scrape(context.Background(), "10") }()
	<-waiting
	cancel()
	<-first
	release()
	out := <-second
	mustValue(t, out, "ativo_up", "1")
	mustValue(t, out, "ativo_teams", "12")
}

func TestSiteBackoffAfterUnclearedRateLimit(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud)
	e.fake.SetFault(ativo.PathTeamIndex, ativotest.Fault429)
	out := e.gather()
	mustValue(t, out, "ativo_api_backoff_seconds", "30")
	mustValue(t, out, `ativo_api_request_failures_total{cause="rate_limited",endpoint="team"}`, "1")
	before := e.fake.TotalRequests()

	// Within the wait: nothing reaches Ativo, no failure counter moves,
	// ativo_up stays 0 although nothing failed.
	e.clock.Advance(20 * time.Second)
	out = e.gather()
	if got := e.fake.TotalRequests(); got != before {
		t.Fatalf("%d requests during backoff", got-before)
	}
	mustValue(t, out, "ativo_up", "0")
	mustValue(t, out, "ativo_api_backoff_seconds", "10")
	mustValue(t, out, `ativo_api_endpoint_up{endpoint="version"}`, "0")
	mustValue(t, out, `ativo_api_request_failures_total{cause="rate_limited",endpoint="team"}`, "1")
	mustValue(t, out, "ativo_teams", "")

	// Past the wait, another 429: the wait doubles.
	e.clock.Advance(11 * time.Second)
	out = e.gather()
	mustValue(t, out, "ativo_api_backoff_seconds", "60")
	if e.fake.TotalRequests() == before {
		t.Fatal("no request after the wait ran out")
	}

	// Past the wait, Ativo answers: one success clears the backoff.
	e.clock.Advance(61 * time.Second)
	e.fake.SetFault(ativo.PathTeamIndex, ativotest.FaultNone)
	out = e.gather()
	mustValue(t, out, "ativo_up", "1")
	mustValue(t, out, "ativo_api_backoff_seconds", "0")
	// And the next 429 starts again from 30 s.
	e.fake.SetFault(ativo.PathTeamIndex, ativotest.Fault429)
	out = e.gather()
	mustValue(t, out, "ativo_api_backoff_seconds", "30")
}

func TestBackoffIsCappedAtFiveMinutes(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(CollectorTeam))
	e.fake.SetFault(ativotest.All, ativotest.Fault429)
	var got []string
	for range 7 {
		out := e.gather()
		got = append(got, value(out, "ativo_api_backoff_seconds"))
		e.clock.Advance(10 * time.Minute)
	}
	want := []string{"30", "60", "120", "240", "300", "300", "300"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("backoff = %v, want %v", got, want)
	}
}

func TestCacheServesWithinTTL(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, func(_ *ativo.Config, o *Options) { o.CacheTTL = time.Minute })
	first := e.gather()
	mustValue(t, first, "ativo_teams", "12")
	requests := e.fake.TotalRequests()

	e.clock.Advance(59 * time.Second)
	e.fake.SetFault(ativotest.All, ativotest.Fault401) // unseen: served from cache
	out := e.gather()
	if e.fake.TotalRequests() != requests {
		t.Fatal("a cache hit sent a request")
	}
	mustValue(t, out, "ativo_up", "1")
	mustValue(t, out, "ativo_teams", "12")
	mustValue(t, out, "ativo_api_token_valid", "1")
	// A cache hit moves no last_success.
	mustValue(t, out, `ativo_last_success_timestamp_seconds{endpoint="team"}`, value(first, `ativo_last_success_timestamp_seconds{endpoint="team"}`))

	e.clock.Advance(2 * time.Second)
	out = e.gather()
	if e.fake.TotalRequests() == requests {
		t.Fatal("no request after the ttl")
	}
	mustValue(t, out, "ativo_up", "0")
	mustValue(t, out, "ativo_teams", "")
	mustValue(t, out, "ativo_api_token_valid", "0")
}

func TestTokenValidity(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud)
	// Answers that say nothing about the token leave it absent.
	e.fake.SetFault(ativotest.All, ativotest.Fault500)
	mustValue(t, e.gather(), "ativo_api_token_valid", "")
	e.fake.SetFault(ativotest.All, ativotest.FaultNone)
	mustValue(t, e.gather(), "ativo_api_token_valid", "1")
	e.fake.SetFault(ativotest.All, ativotest.Fault503)
	mustValue(t, e.gather(), "ativo_api_token_valid", "1") // unchanged
	e.fake.SetFault(ativotest.All, ativotest.FaultNone)

	// Revoked: 0 until the token works again.
	e.fake.Revoke()
	out := e.gather()
	mustValue(t, out, "ativo_api_token_valid", "0")
	mustValue(t, out, "ativo_up", "0")
	e.fake.Restore()
	mustValue(t, e.gather(), "ativo_api_token_valid", "1")

	// Rotation: the server takes a new token; the file still has the old.
	e.fake.SetToken("rotated-token")
	mustValue(t, e.gather(), "ativo_api_token_valid", "0")
	// The file changes while Ativo is down: validity is unknown again.
	e.fake.SetFault(ativotest.All, ativotest.Fault500)
	e.writeToken("rotated-token")
	mustValue(t, e.gather(), "ativo_api_token_valid", "")
	e.fake.SetFault(ativotest.All, ativotest.FaultNone)
	out = e.gather()
	mustValue(t, out, "ativo_api_token_valid", "1")
	mustValue(t, out, "ativo_up", "1")

	// The file disappears: no_token, 0, and the process carries on.
	if err := os.Remove(e.tokenFile); err != nil {
		t.Fatal(err)
	}
	out = e.gather()
	mustValue(t, out, "ativo_api_token_valid", "0")
	mustValue(t, out, `ativo_api_request_failures_total{cause="no_token",endpoint="team"}`, "1")
}

func TestLogsSpeakOnChangeOnly(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(CollectorTeam))
	e.gather()
	e.fake.SetFault(ativotest.All, ativotest.Fault500)
	for range 3 {
		e.gather()
	}
	e.fake.SetFault(ativotest.All, ativotest.Fault401)
	e.gather()
	e.gather()
	e.fake.SetFault(ativotest.All, ativotest.FaultNone)
	e.gather()
	e.gather()
	logs := e.logs.String()
	if n := strings.Count(logs, `msg="Ativo endpoint failing"`); n != 2 {
		t.Errorf("%d failing lines, want 2 (server_error, then auth):\n%s", n, logs)
	}
	if !strings.Contains(logs, "cause=server_error") || !strings.Contains(logs, "cause=auth") {
		t.Errorf("causes missing:\n%s", logs)
	}
	if n := strings.Count(logs, `msg="Ativo endpoint recovered"`); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, "level=WARN") + strings.Count(logs, "level=INFO"); n != 3 {
		t.Errorf("%d info/warn lines, want 3:\n%s", n, logs)
	}
}

// Every fault at debug level, with the token echoed back by a hostile
// upstream: the token never reaches logs, metrics, status or errors.
func TestTokenNeverLeaks(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(allCollectors...))
	e.fake.SetOversize(2 << 20)
	for _, f := range ativotest.Faults {
		if f == ativotest.FaultSlow {
			continue
		}
		e.fake.SetFault(ativotest.All, f)
		e.fake.SetRedirect("http://localhost:1") // nothing listens there
		e.gather()
		for _, st := range e.site.Status() {
			if strings.Contains(st.Error, secret) {
				t.Fatalf("%s: token in status error %q", f, st.Error)
			}
		}
		e.clock.Advance(10 * time.Minute) // leave any backoff
	}
	// The newEnv cleanup checks the debug log.
}

func TestDisabledCollectorsHaveNoSeries(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(CollectorVersion))
	out := e.gather()
	for _, absent := range []string{`endpoint="team"`, "ativo_teams"} {
		if strings.Contains(out, absent) {
			t.Errorf("%s present with the team collector off:\n%s", absent, out)
		}
	}
	if e.fake.Requests(ativo.PathTeamIndex) != 0 {
		t.Error("a disabled collector called Ativo")
	}
}

func TestStatusForLandingPage(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud)
	st := e.site.Status()
	if len(st) != 2 || !st[0].LastAttempt.IsZero() {
		t.Fatalf("before any scrape: %+v", st)
	}
	e.fake.SetFault(ativo.PathTeamIndex, ativotest.Fault403)
	e.gather()
	st = e.site.Status()
	if st[0].Endpoint != "team" || st[0].Up || st[0].Cause != ativo.CauseAuth || !strings.Contains(st[0].Error, "HTTP 403") {
		t.Fatalf("team: %+v", st[0])
	}
	if st[1].Endpoint != "version" || !st[1].Up || st[1].LastSuccess.IsZero() {
		t.Fatalf("version: %+v", st[1])
	}
}

// The README table is generated from the same table as the Descs; this
// checks that Describe emits exactly those metrics with that help and
// those labels, and that the README carries the table.
func TestMetricsTableMatchesDescribeAndREADME(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(allCollectors...))
	ch := make(chan *prometheus.Desc, 100)
	e.site.Describe(ch)
	close(ch)
	seen := map[string]bool{}
	for d := range ch {
		s := d.String()
		found := false
		for _, m := range allMetrics {
			if !strings.Contains(s, `fqName: "`+m.Name+`"`) {
				continue
			}
			found = true
			seen[m.Name] = true
			if !strings.Contains(s, fmt.Sprintf("help: %q", m.Help)) {
				t.Errorf("%s: help differs from the table: %s", m.Name, s)
			}
			if !strings.Contains(s, fmt.Sprintf("variableLabels: {%s}", strings.Join(m.Labels, ","))) {
				t.Errorf("%s: labels differ from the table: %s", m.Name, s)
			}
		}
		if !found {
			t.Errorf("Describe emits a metric missing from the table: %s", s)
		}
	}
	if len(seen) != len(allMetrics) {
		t.Errorf("Describe emitted %d of the %d metrics of the table", len(seen), len(allMetrics))
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), MetricsTable()) {
		t.Errorf("README.md does not carry the metrics table; it must contain exactly:\n%s", MetricsTable())
	}
}
