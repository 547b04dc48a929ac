// Command ativo_exporter exposes the configuration of Ativo Programs for
// Jira (teams, programs, periods) and the health of its REST API as
// Prometheus metrics.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/bootstrap"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
	"github.com/ativo-exporter/ativo_exporter/collector"
	"github.com/ativo-exporter/ativo_exporter/sites"
)

const (
	exporterName   = "ativo_exporter"
	defaultAddress = ":9721"
	tokenEnv       = "ATIVO_TOKEN"
)

func main() {
	app := kingpin.New(exporterName, "Prometheus exporter for Ativo Programs for Jira.")
	f := addFlags(app)
	e := &exporter{flags: f, getenv: os.Getenv}
	runner := bootstrap.New(bootstrap.Config{
		App:                   app,
		Name:                  exporterName,
		Description:           "Prometheus exporter for Ativo Programs for Jira",
		DefaultAddress:        defaultAddress,
		MetricsHandlerFactory: e.factory,
	})
	// Registered before serving, so a SIGHUP never meets the default
	// action (which would end the process).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go handleSignals(e, sig)
	if err := runner.Run(); err != nil {
		// The logger may not exist yet (a parse error): print one line.
		fmt.Fprintf(os.Stderr, "%s: %s\n", exporterName, oneLine(err))
		e.close()
		os.Exit(1)
	}
}

// handleSignals ends the process with status 0 on SIGTERM or SIGINT
// (neither bootstrap nor web.ListenAndServe handles them) and reloads the
// sites file on SIGHUP.
func handleSignals(e *exporter, sig <-chan os.Signal) {
	for s := range sig {
		if s == syscall.SIGHUP {
			if e.ready.Load() && e.sites != nil {
				_ = e.reload() // logged by reload
			}
			continue
		}
		if l := e.logger.Load(); l != nil {
			l.Info("Received signal, exiting", "signal", s.String())
		}
		if e.ready.Load() { // start-up has finished writing e's fields
			e.close()
		}
		os.Exit(0)
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// flags holds the exporter's own flags; bootstrap adds the web and log ones.
type flags struct {
	url, platform, tokenFile         *string
	urlSet, tokenFileSet             bool
	timeout, timeoutOffset, cacheTTL *string
	caFile, maxResponseSize          *string
	demo                             *bool
	collectors                       map[string]*bool
	collectorSet                     map[string]*bool
	configFile                       *string
	configCheck, enableLifecycle     *bool
}

func addFlags(app *kingpin.Application) *flags {
	f := &flags{collectors: map[string]*bool{}, collectorSet: map[string]*bool{}}
	f.url = app.Flag("ativo.url", "Ativo cloud API host, or the Jira Data Center base URL (a context path is fine).").
		Envar("ATIVO_URL").Default(ativo.DefaultURL).IsSetByUser(&f.urlSet).String()
	f.platform = app.Flag("ativo.platform", "cloud (prefix "+ativo.CloudPrefix+"), datacenter (prefix "+ativo.DataCenterPrefix+"), or auto: cloud for "+ativo.CloudHost+", else datacenter.").
		Default(string(ativo.PlatformAuto)).String()
	f.tokenFile = app.Flag("ativo.token-file", "File holding the Ativo bearer token, re-read when it changes. Alternative: the "+tokenEnv+" environment variable (exactly one of the two).").
		Envar("ATIVO_TOKEN_FILE").IsSetByUser(&f.tokenFileSet).String()
	f.timeout = app.Flag("ativo.timeout", "Upper bound for one collection.").Default("10s").String()
	f.timeoutOffset = app.Flag("timeout-offset", "Subtracted from Prometheus' X-Prometheus-Scrape-Timeout-Seconds to get the collection deadline.").Default("0.5s").String()
	f.cacheTTL = app.Flag("ativo.cache-ttl", "Serve a good answer for this long without calling Ativo again (0s: never cache).").Default("0s").String()
	f.caFile = app.Flag("ativo.ca-file", "Extra PEM CA bundle to trust, for a Data Center behind a private CA.").String()
	f.maxResponseSize = app.Flag("ativo.max-response-size", "Larger answers are refused with cause too_large.").Default("64MiB").String()
	for _, c := range collector.Collectors {
		set := new(bool)
		f.collectorSet[c.Name] = set
		f.collectors[c.Name] = app.Flag("collector."+c.Name, c.Help+" (default: "+onOff(c.Default)+")").
			Default(strconv.FormatBool(c.Default)).IsSetByUser(set).Bool()
	}
	f.demo = app.Flag("demo", "Serve an embedded fake Ativo with fixed sample data on loopback and scrape it; no token needed.").Bool()
	f.configFile = app.Flag("config.file", "Sites file (YAML) for many Jira sites, served on /probe?target=<site>. Reloaded on SIGHUP.").String()
	f.configCheck = app.Flag("config.check", "Check the sites file (and that each token source is readable), then exit 0 or 1 without serving.").Bool()
	f.enableLifecycle = app.Flag("web.enable-lifecycle", "Enable POST /-/reload to reload the sites file.").Bool()
	return f
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// settings are the validated flags.
type settings struct {
	url             string
	platform        ativo.Platform
	token           config.SecretReader
	caFile          string
	timeout         time.Duration
	timeoutOffset   time.Duration
	cacheTTL        time.Duration
	maxResponseSize int64
	demo            bool
	enabled         map[string]bool
	configFile      string
	// token is nil when only the sites file gives tokens: then there is
	// no default site and /metrics carries the exporter's own metrics.
}

// validate checks every flag and returns an error naming the flag.
func (f *flags) validate(getenv func(string) string) (*settings, error) {
	s := &settings{url: *f.url, caFile: *f.caFile, demo: *f.demo, enabled: map[string]bool{}, configFile: *f.configFile}
	var err error
	if s.timeout, err = parseDuration("--ativo.timeout", *f.timeout, false); err != nil {
		return nil, err
	}
	if s.timeoutOffset, err = parseDuration("--timeout-offset", *f.timeoutOffset, true); err != nil {
		return nil, err
	}
	if s.cacheTTL, err = parseDuration("--ativo.cache-ttl", *f.cacheTTL, true); err != nil {
		return nil, err
	}
	if s.maxResponseSize, err = ativo.ParseSize(*f.maxResponseSize); err != nil {
		return nil, fmt.Errorf("--ativo.max-response-size: %w", err)
	}
	p, err := ativo.ParsePlatform(*f.platform)
	if err != nil {
		return nil, fmt.Errorf("--ativo.platform: %w", err)
	}
	for _, c := range collector.Collectors {
		// --demo turns every collector on unless the flag says otherwise.
		s.enabled[c.Name] = *f.collectors[c.Name] || (s.demo && !*f.collectorSet[c.Name])
	}
	envToken := getenv(tokenEnv)
	urlSet := f.urlSet || getenv("ATIVO_URL") != ""
	fileSet := *f.tokenFile != ""
	if s.demo {
		switch {
		case urlSet:
			return nil, errors.New("--demo: cannot be combined with --ativo.url (or ATIVO_URL): the demo scrapes its own fake Ativo")
		case fileSet:
			return nil, errors.New("--demo: cannot be combined with --ativo.token-file (or ATIVO_TOKEN_FILE): the demo uses its own token")
		case envToken != "":
			return nil, errors.New("--demo: cannot be combined with the " + tokenEnv + " environment variable: the demo uses its own token")
		}
		s.platform = ativo.PlatformCloud
		return s, nil
	}
	u, err := ativo.ParseURL(s.url)
	if err != nil {
		return nil, fmt.Errorf("--ativo.url: %w", err)
	}
	s.url = u.String()
	s.platform = ativo.ResolvePlatform(p, u)
	switch {
	case fileSet && envToken != "":
		return nil, errors.New("--ativo.token-file: two token sources; set either --ativo.token-file or " + tokenEnv + ", not both")
	case fileSet:
		if _, err := os.ReadFile(*f.tokenFile); err != nil {
			return nil, fmt.Errorf("--ativo.token-file: cannot read the token: %w", unwrapPath(err))
		}
		s.token = config.NewFileSecret(*f.tokenFile)
	case envToken != "":
		s.token = config.NewInlineSecret(envToken)
	case s.configFile != "":
		// Sites only: no default site.
	default:
		return nil, errors.New("--ativo.token-file: no token source; set --ativo.token-file or the " + tokenEnv + " environment variable (or give sites with --config.file)")
	}
	if s.caFile != "" {
		if _, err := ativo.LoadCAFile(s.caFile); err != nil {
			return nil, fmt.Errorf("--ativo.ca-file: %w", unwrapPath(err))
		}
	}
	return s, nil
}

// unwrapPath keeps the os.PathError text short and on one line.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return fmt.Errorf("%s %s: %w", pe.Op, pe.Path, pe.Err)
	}
	return err
}

// parseDuration accepts Go durations (0.5s, 1m30s) and Prometheus ones (1d).
func parseDuration(flag, v string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		md, merr := model.ParseDuration(v)
		if merr != nil {
			return 0, fmt.Errorf("%s: invalid duration %q (use a value like 10s, 500ms or 1m)", flag, v)
		}
		d = time.Duration(md)
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("%s: duration %q must be positive", flag, v)
	}
	return d, nil
}

// exporter is the running exporter's state.
type exporter struct {
	flags  *flags
	getenv func(string) string
	logger atomic.Pointer[slog.Logger]
	ready  atomic.Bool
	fake   atomic.Pointer[ativotest.Server]

	settings *settings
	// client and site are the default site (flags or --demo); nil when
	// only the sites file gives tokens.
	client *ativo.Client
	site   *collector.Site
	// sites serves /probe when --config.file is set.
	sites *sites.Registry

	reloadMu            sync.Mutex
	lastReloadOK        atomic.Bool
	lastReloadSuccessTS atomic.Int64 // Unix seconds
}

func (e *exporter) close() {
	if fake := e.fake.Load(); fake != nil {
		fake.Close()
	}
	if e.sites != nil {
		e.sites.Close()
	}
}

// factory validates the flags, builds the clients and collectors, starts
// the demo fake when asked, and registers the routes. Its error ends the
// process before any port is opened.
func (e *exporter) factory(b *bootstrap.Bootstrap) (http.Handler, error) {
	e.logger.Store(b.Logger)
	if *e.flags.configCheck {
		return nil, e.checkConfig()
	}
	s, err := e.flags.validate(e.getenv)
	if err != nil {
		return nil, err
	}
	e.settings = s
	if s.demo {
		if err := e.startDemo(b.Logger); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(exporterName))
	handlerOpts := promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(b.Logger.Handler(), slog.LevelError)}
	if !b.DisableExporterMetrics {
		reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	if s.configFile != "" {
		e.sites = sites.NewRegistry(sites.Options{
			TimeoutOffset: s.timeoutOffset,
			UserAgent:     version.ComponentUserAgent(exporterName),
			Logger:        b.Logger,
			Getenv:        e.getenv,
		})
		if err := e.reload(); err != nil {
			return nil, fmt.Errorf("--config.file: %w", err)
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ativo_exporter_config_last_reload_successful",
				Help: "1 when the last load of the sites file (--config.file) succeeded, else 0.",
			}, func() float64 {
				if e.lastReloadOK.Load() {
					return 1
				}
				return 0
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ativo_exporter_config_last_reload_success_timestamp_seconds",
				Help: "Unix time of the last successful load of the sites file (--config.file).",
			}, func() float64 { return float64(e.lastReloadSuccessTS.Load()) }),
		)
	}

	var h http.Handler
	if s.token != nil {
		client, err := ativo.New(ativo.Config{
			URL:             s.url,
			Platform:        s.platform,
			Token:           s.token,
			CAFile:          s.caFile,
			MaxResponseSize: s.maxResponseSize,
			UserAgent:       version.ComponentUserAgent(exporterName),
			Logger:          b.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("--ativo.url: %w", err)
		}
		e.client = client
		e.site = collector.New(client, collector.Options{
			Enabled:       s.enabled,
			Timeout:       s.timeout,
			TimeoutOffset: s.timeoutOffset,
			CacheTTL:      s.cacheTTL,
			Platform:      string(client.Platform()),
			URL:           client.URL(),
			Logger:        b.Logger,
		})
		if _, err := client.TokenFingerprint(context.Background()); err != nil {
			b.Logger.Warn("The Ativo token cannot be used yet; scrapes fail with cause no_token until it can", "err", err)
		}
		b.Logger.Info("Scraping Ativo", "url", client.URL(), "platform", string(client.Platform()),
			"collectors", strings.Join(e.site.Endpoints(), ","))
		h = e.site.Handler(reg, handlerOpts)
	} else {
		// Sites only: /metrics carries the exporter's own metrics.
		h = promhttp.HandlerFor(reg, handlerOpts)
	}
	e.routes(b, b.MetricsPath, b.MaxRequestsHandler, handlerOpts)
	if !b.DisableExporterMetrics {
		h = promhttp.InstrumentMetricHandler(reg, h)
	}
	e.ready.Store(true)
	return h, nil
}

// checkConfig is --config.check: it validates the sites file and ends
// the process, 0 when the file is good.
func (e *exporter) checkConfig() error {
	if *e.flags.configFile == "" {
		return errors.New("--config.check: needs --config.file")
	}
	cfg, err := sites.Load(*e.flags.configFile, e.getenv)
	if err != nil {
		return fmt.Errorf("--config.file: %s: %w", *e.flags.configFile, err)
	}
	names := make([]string, 0, len(cfg.Sites))
	for _, s := range cfg.Sites {
		names = append(names, s.Name)
	}
	fmt.Printf("%s: %s is valid: %d sites (%s)\n", exporterName, *e.flags.configFile, len(names), strings.Join(names, ", "))
	os.Exit(0)
	return nil
}

// reload loads the sites file and puts it in service; a bad file is
// rejected and the previous sites keep serving.
func (e *exporter) reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	logger := e.logger.Load()
	cfg, err := sites.Load(e.settings.configFile, e.getenv)
	if err == nil {
		err = e.sites.Apply(cfg)
	}
	if err != nil {
		e.lastReloadOK.Store(false)
		logger.Error("Sites file rejected; the previous sites keep serving", "file", e.settings.configFile, "err", err)
		return err
	}
	e.lastReloadOK.Store(true)
	e.lastReloadSuccessTS.Store(time.Now().Unix())
	logger.Info("Sites file loaded", "file", e.settings.configFile, "sites", strings.Join(e.sites.Names(), ","))
	return nil
}

// serveReload is POST /-/reload, with --web.enable-lifecycle only.
func (e *exporter) serveReload(w http.ResponseWriter, r *http.Request) {
	switch {
	case !*e.flags.enableLifecycle:
		http.Error(w, "Lifecycle API is not enabled (--web.enable-lifecycle).", http.StatusForbidden)
	case r.Method != http.MethodPost && r.Method != http.MethodPut:
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "Use POST to reload the sites file.", http.StatusMethodNotAllowed)
	default:
		if err := e.reload(); err != nil {
			http.Error(w, "Failed to reload the sites file: "+oneLine(err), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("Reloaded\n"))
	}
}

// startDemo serves the fake Ativo on a random loopback port with a random
// token and points the exporter at it.
func (e *exporter) startDemo(logger *slog.Logger) error {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("--demo: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	fake := ativotest.New(ativotest.WithToken(token))
	if err := fake.Start(); err != nil {
		return fmt.Errorf("--demo: starting the fake Ativo: %w", err)
	}
	e.fake.Store(fake)
	e.settings.url = fake.URL()
	e.settings.platform = ativo.PlatformCloud
	e.settings.token = config.NewInlineSecret(token)
	logger.Warn("Demo mode: scraping an embedded fake Ativo with fixed sample data, not a real site", "fake_url", fake.URL())
	return nil
}

// router is what routes need from bootstrap; tests pass an http.ServeMux.
type router interface {
	Handle(pattern string, h http.Handler)
}

// routes registers the landing page and the health endpoints (none of
// them calls Ativo, so Kubernetes probes never spend the rate limit) and,
// with a sites file, /probe (under the --web.max-requests limit, which
// bootstrap applies to the metrics path only) and /-/reload.
func (e *exporter) routes(r router, metricsPath string, limit func(http.Handler) http.Handler, opts promhttp.HandlerOpts) {
	if e.sites != nil {
		r.Handle("/probe", limit(e.sites.ProbeHandler(opts)))
		r.Handle("/-/reload", http.HandlerFunc(e.serveReload))
	}
	r.Handle("/", e.landingHandler(metricsPath))
	r.Handle("/-/healthy", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Healthy\n"))
	}))
	r.Handle("/-/ready", http.HandlerFunc(e.serveReady))
}

func (e *exporter) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !e.ready.Load() {
		http.Error(w, "Starting", http.StatusServiceUnavailable)
		return
	}
	if e.client != nil {
		if _, err := e.client.TokenFingerprint(r.Context()); err != nil {
			http.Error(w, "Not ready: the Ativo token cannot be read", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("Ready\n"))
}
