// Package collector turns answers of the Ativo API into Prometheus
// metrics: one collection per scrape, endpoints called in parallel,
// overlapping scrapes sharing one collection, optional caching and a
// site-wide backoff after rate limiting.
package collector

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/ativo-exporter/ativo_exporter/ativo"
)

// Collector names, as in --[no-]collector.<name>.
const (
	CollectorTeam               = "team"
	CollectorVersion            = "version"
	CollectorTeamConfigurations = "team-configurations"
	CollectorPrograms           = "programs"
	CollectorPeriods            = "periods"
)

// Info describes one collector for flags and documentation.
type Info struct {
	Name     string
	Default  bool
	Endpoint string // endpoint label of its endpoint_up series
	Help     string
}

// Collectors lists every collector in flag order.
var Collectors = []Info{
	{CollectorTeam, true, ativo.EndpointTeam, "Count teams from the team index (/team, falling back to /teams)."},
	{CollectorVersion, true, ativo.EndpointVersion, "Report the data model version (/meta/model/version and the X-API-Model-Version header)."},
	{CollectorTeamConfigurations, false, ativo.EndpointTeams, "Count team configurations (/teams) by type, mode, estimation and archived."},
	{CollectorPrograms, false, ativo.EndpointPrograms, "Count programs (ARTs) by archived (/programs, falling back to /program)."},
	{CollectorPeriods, false, ativo.EndpointPeriods, "Count periods (PIs) by archived (/periods, falling back to /period)."},
}

// API is what the collector needs from the Ativo client; *ativo.Client
// implements it, tests may swap in another.
type API interface {
	TeamCount(ctx context.Context) (int, error)
	Teams(ctx context.Context) (*ativo.TeamSummary, error)
	Programs(ctx context.Context) (*ativo.ArchiveCounts, error)
	Periods(ctx context.Context) (*ativo.ArchiveCounts, error)
	ModelVersion(ctx context.Context) (ativo.ModelVersion, error)
	TokenFingerprint(ctx context.Context) (string, error)
}

// Options configures a Site.
type Options struct {
	// Enabled holds the collector names that are on.
	Enabled map[string]bool
	// Timeout bounds one collection (--ativo.timeout).
	Timeout time.Duration
	// TimeoutOffset is subtracted from Prometheus' scrape timeout header.
	TimeoutOffset time.Duration
	// CacheTTL serves a good answer this long without calling Ativo.
	CacheTTL time.Duration
	// Platform and URL label ativo_api_info.
	Platform string
	URL      string
	Clock    ativo.Clock
	Rand     func() float64 // in [0, 1)
	Logger   *slog.Logger
}

// Site-wide backoff after a 429 that retries could not clear (SPEC §5).
const (
	backoffFirst  = 30 * time.Second
	backoffMax    = 5 * time.Minute
	backoffJitter = 0.25
)

// waitGrace is how long past its deadline a scrape still waits for the
// shared collection, which ends a moment after the deadline cancels its
// requests.
const waitGrace = 250 * time.Millisecond

// Site collects one Ativo site (one URL and token). It keeps what lives
// across scrapes: counters, token validity, model version, last
// successes, the cache and the backoff.
type Site struct {
	api       API
	opts      Options
	clock     ativo.Clock
	rand      func() float64
	logger    *slog.Logger
	jobs      []*job
	endpoints []string // endpoint_up labels of enabled collectors, in order
	group     singleflight.Group

	requests *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	descs    map[string]*prometheus.Desc

	mu           sync.Mutex
	tokenFP      string
	tokenFPKnown bool
	tokenValid   int // -1 unknown, 0, 1
	modelVersion int
	backoffUntil time.Time
	backoffLevel int
	lastSuccess  map[string]time.Time
	status       map[string]*EndpointStatus

	// onWait, when set, is called by every scrape before it waits for
	// the shared collection (tests use it to make scrapes overlap).
	onWait func()
}

// EndpointStatus is the last result of one endpoint, for the landing page.
type EndpointStatus struct {
	Endpoint    string
	Up          bool
	Cause       ativo.Cause
	Error       string // never holds the token
	LastAttempt time.Time
	LastSuccess time.Time
}

// job is one upstream call per collection, serving one or more endpoint
// labels.
type job struct {
	name   string   // endpoint label of its requests and failures
	serves []string // endpoint_up labels it answers for
	fetch  func(ctx context.Context) (*payload, error)

	cachedAt time.Time
	cached   *payload
}

// payload is what one job got from Ativo.
type payload struct {
	teamCount *int
	teams     *ativo.TeamSummary
	archived  *ativo.ArchiveCounts // programs or periods
	version   ativo.ModelVersion
	saw2xx    bool // the answer was a non-HTML 2xx (says the token works)
}

// New builds a Site for api.
func New(api API, opts Options) *Site {
	if opts.Clock == nil {
		opts.Clock = ativo.RealClock
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	s := &Site{
		api:         api,
		opts:        opts,
		clock:       opts.Clock,
		rand:        opts.Rand,
		logger:      opts.Logger,
		tokenValid:  -1,
		lastSuccess: map[string]time.Time{},
		status:      map[string]*EndpointStatus{},
		descs:       map[string]*prometheus.Desc{},
		requests:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: mRequests.Name, Help: mRequests.Help}, mRequests.Labels),
		failures:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: mFailures.Name, Help: mFailures.Help}, mFailures.Labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: mDuration.Name, Help: mDuration.Help,
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, mDuration.Labels),
	}
	for _, m := range allMetrics {
		if m.Type != typeCounter && m.Type != typeHistogram {
			s.descs[m.Name] = m.desc()
		}
	}
	s.buildJobs()
	for _, ep := range s.endpoints {
		s.status[ep] = &EndpointStatus{Endpoint: ep}
		for _, c := range ativo.Causes {
			s.failures.WithLabelValues(ep, string(c))
		}
	}
	return s
}

func (s *Site) buildJobs() {
	on := s.opts.Enabled
	for _, c := range Collectors {
		if on[c.Name] {
			s.endpoints = append(s.endpoints, c.Endpoint)
		}
	}
	switch {
	case on[CollectorTeamConfigurations]:
		// One /teams request serves both collectors: it holds the full
		// list, so the index would only spend rate limit.
		serves := []string{ativo.EndpointTeams}
		if on[CollectorTeam] {
			serves = []string{ativo.EndpointTeam, ativo.EndpointTeams}
		}
		s.jobs = append(s.jobs, &job{name: ativo.EndpointTeams, serves: serves, fetch: func(ctx context.Context) (*payload, error) {
			sum, err := s.api.Teams(ctx)
			if err != nil {
				return nil, err
			}
			n := sum.Total
			return &payload{teamCount: &n, teams: sum, saw2xx: true}, nil
		}})
	case on[CollectorTeam]:
		s.jobs = append(s.jobs, &job{name: ativo.EndpointTeam, serves: []string{ativo.EndpointTeam}, fetch: func(ctx context.Context) (*payload, error) {
			n, err := s.api.TeamCount(ctx)
			if err != nil {
				return nil, err
			}
			return &payload{teamCount: &n, saw2xx: true}, nil
		}})
	}
	if on[CollectorVersion] {
		s.jobs = append(s.jobs, &job{name: ativo.EndpointVersion, serves: []string{ativo.EndpointVersion}, fetch: func(ctx context.Context) (*payload, error) {
			v, err := s.api.ModelVersion(ctx)
			if err != nil {
				return nil, err
			}
			return &payload{version: v, saw2xx: !v.Absent}, nil
		}})
	}
	// Programs and periods have the same shape: counts by archived flag.
	archived := func(endpoint string, fetch func(context.Context) (*ativo.ArchiveCounts, error)) *job {
		return &job{name: endpoint, serves: []string{endpoint}, fetch: func(ctx context.Context) (*payload, error) {
			ac, err := fetch(ctx)
			if err != nil {
				return nil, err
			}
			return &payload{archived: ac, saw2xx: true}, nil
		}}
	}
	if on[CollectorPrograms] {
		s.jobs = append(s.jobs, archived(ativo.EndpointPrograms, s.api.Programs))
	}
	if on[CollectorPeriods] {
		s.jobs = append(s.jobs, archived(ativo.EndpointPeriods, s.api.Periods))
	}
}

// Endpoints returns the endpoint labels of the enabled collectors.
func (s *Site) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// outcome is one job's result in one collection.
type outcome struct {
	data      *payload
	err       error
	fromCache bool
	skipped   bool // not called: site in backoff
}

// collection is the shared result of one collection.
type collection struct {
	endpointUp map[string]bool
	data       map[string]*payload // by endpoint label, for up endpoints
	backoff    bool
	duration   time.Duration
}

// collect runs one collection on ctx, whose deadline bounds every call.
func (s *Site) collect(ctx context.Context) *collection {
	start := s.clock.Now()
	var (
		obsMu   sync.Mutex
		saw429  bool
		headerV int
	)
	ctx = ativo.WithObserver(ctx, func(ri ativo.RequestInfo) {
		code := "none"
		if ri.Status != 0 {
			code = strconv.Itoa(ri.Status)
		}
		s.requests.WithLabelValues(ri.Endpoint, code).Inc()
		s.duration.WithLabelValues(ri.Endpoint).Observe(ri.Duration.Seconds())
		obsMu.Lock()
		defer obsMu.Unlock()
		if ri.Status == 429 {
			saw429 = true
		}
		if ri.ModelVersion > 0 {
			headerV = ri.ModelVersion
		}
	})

	fp, tokenErr := s.api.TokenFingerprint(ctx)
	s.mu.Lock()
	if tokenErr == nil && (!s.tokenFPKnown || fp != s.tokenFP) || tokenErr != nil && s.tokenFPKnown {
		// A new token (or none): nothing is known about it yet.
		s.tokenFP, s.tokenFPKnown, s.tokenValid = fp, tokenErr == nil, -1
	}
	inBackoff := start.Before(s.backoffUntil)
	s.mu.Unlock()

	outcomes := make([]outcome, len(s.jobs))
	var wg sync.WaitGroup
	for i, j := range s.jobs {
		if j.cached != nil && s.opts.CacheTTL > 0 && start.Before(j.cachedAt.Add(s.opts.CacheTTL)) {
			outcomes[i] = outcome{data: j.cached, fromCache: true}
			continue
		}
		switch {
		case inBackoff:
			outcomes[i] = outcome{skipped: true}
		case tokenErr != nil:
			outcomes[i] = outcome{err: &ativo.Error{Endpoint: j.name, Cause: ativo.CauseNoToken, Err: tokenErr}}
		default:
			wg.Go(func() {
				data, err := j.fetch(ctx)
				outcomes[i] = outcome{data: data, err: err}
			})
		}
	}
	wg.Wait()
	end := s.clock.Now()

	c := &collection{endpointUp: map[string]bool{}, data: map[string]*payload{}, backoff: inBackoff, duration: end.Sub(start)}
	authFailed := tokenErr != nil
	saw2xx, rateLimited := false, false
	for i, j := range s.jobs {
		o := outcomes[i]
		switch {
		case o.skipped:
		case o.err != nil:
			cause := ativo.CauseOf(o.err)
			s.failures.WithLabelValues(j.name, string(cause)).Inc()
			authFailed = authFailed || cause == ativo.CauseAuth
			rateLimited = rateLimited || cause == ativo.CauseRateLimited
			if st := ativo.StatusOf(o.err); st >= 200 && st <= 299 && cause != ativo.CauseAuth {
				saw2xx = true
			}
		case o.fromCache:
		default:
			saw2xx = saw2xx || o.data.saw2xx
			if s.opts.CacheTTL > 0 {
				j.cached, j.cachedAt = o.data, end
			}
		}
		for _, ep := range j.serves {
			if o.data != nil {
				c.endpointUp[ep] = true
				c.data[ep] = o.data
			}
		}
		s.noteStatus(j, o, end)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case authFailed:
		s.tokenValid = 0
	case saw2xx:
		s.tokenValid = 1
	}
	obsMu.Lock()
	if headerV > 0 {
		s.modelVersion = headerV
	}
	obsMu.Unlock()
	for i, j := range s.jobs {
		if d := outcomes[i].data; d != nil && !outcomes[i].fromCache && d.version.Version > 0 {
			s.modelVersion = d.version.Version
		}
		if outcomes[i].data != nil && !outcomes[i].fromCache {
			for _, ep := range j.serves {
				s.lastSuccess[ep] = end
			}
		}
	}
	switch {
	case rateLimited:
		wait := min(backoffFirst<<s.backoffLevel, backoffMax)
		wait = time.Duration(float64(wait) * (1 + backoffJitter*s.rand()))
		s.backoffLevel = min(s.backoffLevel+1, 8)
		s.backoffUntil = end.Add(wait)
		s.logger.Warn("Ativo rate limit reached, pausing all calls to the site", "wait", wait.Round(time.Second).String())
	case saw2xx && !saw429 && (s.backoffLevel > 0 || !s.backoffUntil.IsZero()):
		s.backoffLevel, s.backoffUntil = 0, time.Time{}
		s.logger.Info("Ativo answers again after rate limiting")
	}
	return c
}

// noteStatus records the job's result for the landing page and logs
// changes only: one warn line when an endpoint starts failing (or fails
// for another cause), one info line when it recovers.
func (s *Site) noteStatus(j *job, o outcome, now time.Time) {
	if o.skipped || o.fromCache {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ep := range j.serves {
		st := s.status[ep]
		wasUp, oldCause, first := st.Up, st.Cause, st.LastAttempt.IsZero()
		st.LastAttempt = now
		if o.err == nil {
			st.Up, st.Cause, st.Error, st.LastSuccess = true, "", "", now
			if !wasUp && !first && ep == j.name {
				s.logger.Info("Ativo endpoint recovered", "endpoint", ep)
			}
			continue
		}
		cause := ativo.CauseOf(o.err)
		st.Up, st.Cause, st.Error = false, cause, o.err.Error()
		if (wasUp || first || cause != oldCause) && ep == j.name {
			s.logger.Warn("Ativo endpoint failing", "endpoint", ep, "cause", string(cause), "err", o.err)
		}
	}
}

// Status returns the last result of every enabled endpoint.
func (s *Site) Status() []EndpointStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EndpointStatus, 0, len(s.endpoints))
	for _, ep := range s.endpoints {
		out = append(out, *s.status[ep])
	}
	return out
}

// Describe sends every Desc the site can emit.
func (s *Site) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
	s.requests.Describe(ch)
	s.failures.Describe(ch)
	s.duration.Describe(ch)
}

// Collect runs one collection bounded by --ativo.timeout; scrapes through
// Handler use the scrape's own deadline instead.
func (s *Site) Collect(ch chan<- prometheus.Metric) {
	s.collectUntil(context.Background(), s.clock.Now().Add(s.opts.Timeout), ch)
}

// ForScrape returns a collector whose collection is bounded by deadline
// and that stops waiting when ctx (the scrape request) ends.
func (s *Site) ForScrape(ctx context.Context, deadline time.Time) prometheus.Collector {
	return &scrape{site: s, ctx: ctx, deadline: deadline}
}

type scrape struct {
	site     *Site
	ctx      context.Context
	deadline time.Time
}

func (sc *scrape) Describe(ch chan<- *prometheus.Desc) { sc.site.Describe(ch) }
func (sc *scrape) Collect(ch chan<- prometheus.Metric) {
	sc.site.collectUntil(sc.ctx, sc.deadline, ch)
}

// collectUntil joins the collection in flight or starts one bounded by
// deadline on a context that keeps ctx's values but not its cancellation,
// so a scrape that goes away does not fail the others (SPEC §5).
func (s *Site) collectUntil(ctx context.Context, deadline time.Time, ch chan<- prometheus.Metric) {
	start := s.clock.Now()
	// The deadline is in clock time; contexts run on the wall clock.
	wallDeadline := time.Now().Add(deadline.Sub(start))
	res := s.group.DoChan("collect", func() (any, error) {
		cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), wallDeadline)
		defer cancel()
		return s.collect(cctx), nil
	})
	if s.onWait != nil {
		s.onWait()
	}
	timer := time.NewTimer(time.Until(wallDeadline) + waitGrace)
	defer timer.Stop()
	var c *collection
	select {
	case r := <-res:
		c = r.Val.(*collection)
	case <-timer.C:
	case <-ctx.Done():
	}
	if c == nil {
		// Our deadline came first: answer without the shared result and
		// without moving any counter.
		c = &collection{endpointUp: map[string]bool{}, data: map[string]*payload{}, duration: s.clock.Now().Sub(start)}
	}
	s.render(c, ch)
}

// render emits the metrics of a collection plus the site's state.
func (s *Site) render(c *collection, ch chan<- prometheus.Metric) {
	emit := func(m metricInfo, v float64, labels ...string) {
		metric, err := prometheus.NewConstMetric(s.descs[m.Name], prometheus.GaugeValue, v, labels...)
		if err != nil {
			// Only label values from upstream data can get here; a bad
			// one drops its series, never the scrape.
			s.logger.Debug("Dropping series with an unusable label value", "metric", m.Name, "err", err)
			return
		}
		ch <- metric
	}
	now := s.clock.Now()
	s.mu.Lock()
	tokenValid, mv := s.tokenValid, s.modelVersion
	backoff := max(s.backoffUntil.Sub(now), 0)
	lastSuccess := make(map[string]time.Time, len(s.lastSuccess))
	maps.Copy(lastSuccess, s.lastSuccess)
	s.mu.Unlock()

	allUp := !c.backoff
	for _, ep := range s.endpoints {
		up := c.endpointUp[ep]
		allUp = allUp && up
		emit(mEndpointUp, b2f(up), ep)
		if t, ok := lastSuccess[ep]; ok {
			emit(mLastSuccess, float64(t.UnixNano())/1e9, ep)
		}
	}
	emit(mUp, b2f(allUp))
	if tokenValid >= 0 {
		emit(mTokenValid, float64(tokenValid))
	}
	if mv > 0 {
		emit(mModelVersion, float64(mv))
	}
	emit(mModelVersionSupported, ativo.SupportedModelVersion)
	emit(mInfo, 1, s.opts.Platform, s.opts.URL)
	emit(mScrapeDuration, c.duration.Seconds())
	emit(mBackoff, math.Ceil(backoff.Seconds()))

	if d := c.data[ativo.EndpointTeam]; d != nil && d.teamCount != nil {
		emit(mTeams, float64(*d.teamCount))
	}
	if d := c.data[ativo.EndpointTeams]; d != nil && d.teams != nil {
		for tc, n := range d.teams.Configs {
			emit(mTeamConfigurations, float64(n), tc.Type, tc.Mode, tc.Estimation, tc.Archived)
		}
	}
	for endpoint, m := range map[string]metricInfo{ativo.EndpointPrograms: mPrograms, ativo.EndpointPeriods: mPeriods} {
		if d := c.data[endpoint]; d != nil && d.archived != nil {
			for a, n := range d.archived.ByArchived {
				emit(m, float64(n), a)
			}
		}
	}
	s.requests.Collect(ch)
	s.failures.Collect(ch)
	s.duration.Collect(ch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
