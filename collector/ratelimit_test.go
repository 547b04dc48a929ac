package collector

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

// Rate-limit citizenship. Ativo Cloud allows about 100 requests per Jira
// site over a few minutes, shared by every integration of the site. These
// tests drive scrapers on the injected clock against the fake Ativo (real
// HTTP on loopback, no sleeping) and count what reaches it.

// budgetRow is one line of the README's table in "The Ativo rate limit".
type budgetRow struct {
	interval  time.Duration
	endpoints int
	perHour   [3]int // one Prometheus, HA pair, HA pair with cache-ttl = interval − 5s
	per5Min   [3]int
}

var budgetCell = regexp.MustCompile(`^(\d+)/h \((\d+) per 5 min\)$`)

func readBudgetTable(t *testing.T) []budgetRow {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## The Ativo rate limit")
	if !ok {
		t.Fatal(`README.md has no "## The Ativo rate limit" section`)
	}
	var rows []budgetRow
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 5 || !strings.HasSuffix(cells[0], "s") {
			continue
		}
		secs, err := strconv.Atoi(strings.TrimSuffix(cells[0], "s"))
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.Fields(cells[1])[0])
		if err != nil {
			t.Fatalf("README budget row %q: %v", line, err)
		}
		r := budgetRow{interval: time.Duration(secs) * time.Second, endpoints: n}
		for i, c := range cells[2:] {
			m := budgetCell.FindStringSubmatch(c)
			if m == nil {
				t.Fatalf("README budget row %q: cannot read %q", line, c)
			}
			r.perHour[i], _ = strconv.Atoi(m[1])
			r.per5Min[i], _ = strconv.Atoi(m[2])
		}
		rows = append(rows, r)
	}
	if len(rows) < 4 {
		t.Fatalf("README budget table: found %d rows", len(rows))
	}
	return rows
}

// collectorsFor maps the table's endpoint count to collectors: 2 is the
// default set, 4 is every collector (team and team-configurations share
// one /teams request).
func collectorsFor(t *testing.T, endpoints int) []string {
	switch endpoints {
	case 2:
		return []string{CollectorTeam, CollectorVersion}
	case 4:
		return allCollectors
	}
	t.Fatalf("no collector set with %d endpoints", endpoints)
	return nil
}

// collectOnce runs one collection the way a scrape does and discards the
// metrics.
func collectOnce(s *Site) {
	ch := make(chan prometheus.Metric, 64)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	s.collectUntil(context.Background(), s.clock.Now().Add(s.opts.Timeout), ch)
	close(ch)
	<-done
}

// scrapeTimes returns the moments, within [0, end), at which scrapers
// with the given offsets scrape every interval, in order.
func scrapeTimes(interval, end time.Duration, offsets ...time.Duration) []time.Duration {
	var out []time.Duration
	for _, o := range offsets {
		for at := o; at < end; at += interval {
			out = append(out, at)
		}
	}
	slices.Sort(out)
	return out
}

// runHour has scrapers with the given offsets scrape e's site every
// interval on its clock, and returns the requests that reached the fake
// in one steady-state hour: the first interval is a warm-up (a cache
// filled just before the hour would otherwise count as a request).
func runHour(e *env, interval time.Duration, offsets ...time.Duration) int {
	start := e.clock.Now()
	before := -1
	for _, at := range scrapeTimes(interval, interval+time.Hour, offsets...) {
		if at >= interval && before < 0 {
			before = e.fake.TotalRequests()
		}
		if d := start.Add(at).Sub(e.clock.Now()); d > 0 {
			e.clock.Advance(d)
		}
		collectOnce(e.site)
	}
	return e.fake.TotalRequests() - before
}

// For every row of the README's budget table: one Prometheus, an HA pair
// (two servers scraping the same exporter at different moments of the
// interval, as Prometheus spreads them), and the HA pair with
// --ativo.cache-ttl = interval − 5s, for several offsets between the two.
func TestRequestsPerHourMatchTheREADMEBudget(t *testing.T) {
	for _, row := range readBudgetTable(t) {
		name := fmt.Sprintf("interval=%s/endpoints=%d", row.interval, row.endpoints)
		t.Run(name, func(t *testing.T) {
			for i, per := range row.perHour {
				if row.per5Min[i]*12 != per {
					t.Errorf("column %d: %d/h is not 12 × %d per 5 min", i, per, row.per5Min[i])
				}
			}
			names := collectorsFor(t, row.endpoints)
			// Offsets of the second server: near the start, middle and
			// end of the interval, inside and outside the last 5 s.
			offsets := []time.Duration{time.Second, row.interval * 37 / 100, row.interval - 2*time.Second}
			settings := []struct {
				column  int
				ttl     time.Duration
				offsets [][]time.Duration
			}{
				{0, 0, [][]time.Duration{{0}}},
				{1, 0, pairs(offsets[1:2])}, // without a cache the offset does not matter
				{2, row.interval - 5*time.Second, pairs(offsets)},
			}
			for _, s := range settings {
				for _, offs := range s.offsets {
					e := newEnv(t, ativo.PlatformCloud, withCollectors(names...), func(_ *ativo.Config, o *Options) { o.CacheTTL = s.ttl })
					got := runHour(e, row.interval, offs...)
					if want := row.perHour[s.column]; got != want {
						t.Errorf("column %d (cache-ttl %s, scrapers at offsets %v): %d requests per hour, README says %d",
							s.column, s.ttl, offs, got, want)
					}
				}
			}
		})
	}
}

func pairs(offsets []time.Duration) [][]time.Duration {
	out := make([][]time.Duration, len(offsets))
	for i, o := range offsets {
		out[i] = []time.Duration{0, o}
	}
	return out
}

// A site in backoff after a 429 that retries could not clear gets no
// request at all, from either server of an HA pair, until its wait runs
// out; the first scrape after it tries again, and a second 429 doubles the
// wait. Over an hour of persistent 429 the site costs far less than the
// no-fault budget of one Prometheus.
func TestBackoffSendsNothingUntilTheWaitRunsOut(t *testing.T) {
	const jitter = 0.5 // site backoff × (1 + 0.25 × 0.5)
	e := newEnv(t, ativo.PlatformCloud, withCollectors(CollectorTeam), func(_ *ativo.Config, o *Options) {
		o.Rand = func() float64 { return jitter }
	})
	e.fake.SetFault(ativotest.All, ativotest.Fault429)
	// An HA pair scraping every 15 s, 6 s apart: scrapes every few seconds.
	times := scrapeTimes(15*time.Second, time.Hour, 0, 6*time.Second)
	start := e.clock.Now()
	var (
		backoffUntil time.Time
		rounds       int
		wantWait     = 30 * time.Second
	)
	total := 0
	for _, at := range times {
		if d := start.Add(at).Sub(e.clock.Now()); d > 0 {
			e.clock.Advance(d)
		}
		now := e.clock.Now()
		before := e.fake.TotalRequests()
		out := e.gather()
		sent := e.fake.TotalRequests() - before
		total += sent
		if now.Before(backoffUntil) {
			if sent != 0 {
				t.Fatalf("at %s, %s before the backoff ends: %d requests", at, backoffUntil.Sub(now), sent)
			}
			mustValue(t, out, "ativo_up", "0")
			mustValue(t, out, "ativo_api_backoff_seconds", fmt.Sprint(math.Ceil(backoffUntil.Sub(now).Seconds())))
			continue
		}
		// The first scrape after the wait: Ativo is asked again (the
		// request and its in-scrape retries), it answers 429 again, the
		// wait doubles up to 5 minutes.
		if sent == 0 {
			t.Fatalf("at %s, after the backoff ended: no request", at)
		}
		rounds++
		end := e.clock.Now() // retries moved the clock
		wait := time.Duration(float64(wantWait) * (1 + 0.25*jitter))
		mustValue(t, out, "ativo_api_backoff_seconds", fmt.Sprint(math.Ceil(wait.Seconds())))
		backoffUntil = end.Add(wait)
		wantWait = min(2*wantWait, 5*time.Minute)
	}
	if rounds < 5 {
		t.Fatalf("only %d backoff rounds in an hour", rounds)
	}
	if total >= 240 { // one Prometheus, 15 s, no fault: 240 requests for one endpoint
		t.Fatalf("%d requests in an hour of 429", total)
	}
	t.Logf("an hour of persistent 429 at 15 s from an HA pair: %d rounds, %d requests (retries included)", rounds, total)
}
