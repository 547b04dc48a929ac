package sites

import (
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/collector"
)

// Options are the settings shared by every site.
type Options struct {
	TimeoutOffset time.Duration // global --timeout-offset
	UserAgent     string
	Logger        *slog.Logger
	Getenv        func(string) string
	Clock         ativo.Clock // nil: the wall clock
}

// Registry holds the sites in service. Each site has its own client,
// token, singleflight group, cache and backoff; a reload keeps the state
// of every site whose settings did not change.
type Registry struct {
	opts Options

	mu    sync.RWMutex
	sites map[string]*entry
}

type entry struct {
	cfg    Site
	client *ativo.Client
	site   *collector.Site
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = ativo.RealClock
	}
	return &Registry{opts: opts, sites: map[string]*entry{}}
}

// Apply puts cfg in service. Sites whose settings are unchanged keep their
// client and collector (counters, cache, backoff); the others start
// afresh; sites no longer listed are dropped. On error nothing changes.
func (r *Registry) Apply(cfg *Config) error {
	r.mu.RLock()
	old := r.sites
	r.mu.RUnlock()
	next := make(map[string]*entry, len(cfg.Sites))
	var created []*entry
	for _, s := range cfg.Sites {
		if e, ok := old[s.Name]; ok && reflect.DeepEqual(e.cfg, s) {
			next[s.Name] = e
			continue
		}
		e, err := r.build(s)
		if err != nil {
			for _, c := range created {
				c.client.CloseIdleConnections()
			}
			return fmt.Errorf("site %s: %w", s.Name, err)
		}
		created = append(created, e)
		next[s.Name] = e
	}
	r.mu.Lock()
	r.sites = next
	r.mu.Unlock()
	for name, e := range old {
		if next[name] != e {
			e.client.CloseIdleConnections()
		}
	}
	return nil
}

func (r *Registry) build(s Site) (*entry, error) {
	logger := r.opts.Logger.With("site", s.Name)
	client, err := ativo.New(ativo.Config{
		URL:             s.URL,
		Platform:        s.Platform,
		Token:           s.token(r.opts.Getenv),
		CAFile:          s.CAFile,
		MaxResponseSize: s.MaxResponseSize,
		UserAgent:       r.opts.UserAgent,
		Clock:           r.opts.Clock,
		Logger:          logger,
	})
	if err != nil {
		return nil, err
	}
	enabled := map[string]bool{}
	for _, c := range s.Collectors {
		enabled[c] = true
	}
	site := collector.New(client, collector.Options{
		Enabled:       enabled,
		Timeout:       s.Timeout,
		TimeoutOffset: r.opts.TimeoutOffset,
		CacheTTL:      s.CacheTTL,
		Platform:      string(client.Platform()),
		URL:           client.URL(),
		Clock:         r.opts.Clock,
		Logger:        logger,
	})
	return &entry{cfg: s, client: client, site: site}, nil
}

// Names returns the site names in service, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.sites))
	for n := range r.sites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Site returns the collector of a site in service.
func (r *Registry) Site(name string) (*collector.Site, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.sites[name]
	if !ok {
		return nil, false
	}
	return e.site, true
}

// Close drops every site's idle connections.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.sites {
		e.client.CloseIdleConnections()
	}
}

// ProbeHandler serves /probe?target=<site name>: one collection of that
// site with its ativo_* metrics only. The target is looked up by name in
// the sites file; nothing taken from the query string is ever called.
func (r *Registry) ProbeHandler(opts promhttp.HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		target := req.URL.Query().Get("target")
		switch {
		case target == "":
			http.Error(w, "missing target: use /probe?target=<site name from the sites file>", http.StatusBadRequest)
			return
		case !NameRE.MatchString(target):
			http.Error(w, "invalid target "+quote(target)+": a site name from the sites file is expected, not a URL", http.StatusBadRequest)
			return
		}
		site, ok := r.Site(target)
		if !ok {
			http.Error(w, "unknown target "+quote(target)+": not a site of the sites file", http.StatusBadRequest)
			return
		}
		site.Handler(nil, opts).ServeHTTP(w, req)
	})
}

// quote shows at most 64 bytes of untrusted input.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
