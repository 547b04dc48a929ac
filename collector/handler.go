package collector

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ScrapeTimeoutHeader is the header in which Prometheus sends its scrape timeout.
const ScrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// ParseScrapeTimeout parses the scrape timeout header: a positive,
// finite number of seconds. ok is false for anything else.
func ParseScrapeTimeout(h string) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" || len(h) > 32 {
		return 0, false
	}
	secs, err := strconv.ParseFloat(h, 64)
	// A year is far above any scrape timeout and keeps the conversion exact.
	if err != nil || math.IsNaN(secs) || secs <= 0 || secs > 365*24*3600 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// Deadline computes a scrape's deadline (SPEC §5): now + min(timeout,
// H - offset), or now + timeout when the header H is absent, unparsable
// or not above the offset.
func Deadline(now time.Time, header string, timeout, offset time.Duration) time.Time {
	if h, ok := ParseScrapeTimeout(header); ok && h > offset {
		return now.Add(min(timeout, h-offset))
	}
	return now.Add(timeout)
}

// Handler serves one scrape of the site: it computes the scrape's
// deadline and gathers the site bound to it, together with extra (the
// exporter's own metrics, or nil).
func (s *Site) Handler(extra prometheus.Gatherer, opts promhttp.HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline := Deadline(s.clock.Now(), r.Header.Get(ScrapeTimeoutHeader), s.opts.Timeout, s.opts.TimeoutOffset)
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(s.ForScrape(r.Context(), deadline)); err != nil {
			http.Error(w, "registering the collector: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var g prometheus.Gatherer = reg
		if extra != nil {
			g = prometheus.Gatherers{extra, reg}
		}
		promhttp.HandlerFor(g, opts).ServeHTTP(w, r)
	})
}
