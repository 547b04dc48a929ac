// Package ativotest is an in-memory fake of the Ativo REST API with sample
// data and a switch per fault. Tests use it, and so does --demo, so it
// ships in the binary and does not import testing.
package ativotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ativo-exporter/ativo_exporter/ativo"
)

// Fault is what the fake answers instead of the data.
type Fault string

// Faults. Each reproduces an answer Ativo or Jira could plausibly give
// (ativo-api.md §4 and §9: most status codes are undocumented).
const (
	FaultNone      Fault = "none"
	Fault401       Fault = "401"       // revoked or invalid token (status undocumented)
	Fault403       Fault = "403"       // the other plausible answer for a bad token
	Fault400       Fault = "400"       // a request Ativo does not accept
	Fault404       Fault = "404"       // endpoint absent
	Fault429       Fault = "429"       // cloud rate limit, no Retry-After (documented)
	Fault500       Fault = "500"       // server error
	Fault503       Fault = "503"       // maintenance
	FaultSlow      Fault = "slow"      // never answers; the client must give up
	FaultMalformed Fault = "malformed" // 200 with broken JSON
	FaultTruncated Fault = "truncated" // 200 whose body stops short of Content-Length
	FaultOversized Fault = "oversized" // 200 with a body larger than any cap (streamed)
	FaultHTML      Fault = "html"      // 200 with Jira's login page (Data Center without credentials)
	FaultEmpty     Fault = "empty"     // 200 with an empty body
	FaultRedirect  Fault = "redirect"  // 302 to RedirectTo (another host)
)

// Faults lists every fault but FaultNone.
var Faults = []Fault{
	Fault400, Fault401, Fault403, Fault404, Fault429, Fault500, Fault503, FaultSlow, FaultMalformed,
	FaultTruncated, FaultOversized, FaultHTML, FaultEmpty, FaultRedirect,
}

// ParseFault checks a fault name.
func ParseFault(s string) (Fault, error) {
	if s == "" || s == string(FaultNone) {
		return FaultNone, nil
	}
	for _, f := range Faults {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown fault %q", s)
}

// VersionFormat is how the version endpoint writes its body; the real
// shape is undocumented (ativo-api.md §3).
type VersionFormat int

// Version body formats.
const (
	VersionNumber VersionFormat = iota // 9
	VersionString                      // "9"
	VersionObject                      // {"version": 9}
)

// All is the endpoint key that applies a fault or delay to every path.
const All = "*"

// paths the fake serves, relative to a prefix.
var servedPaths = []string{
	ativo.PathTeamIndex, ativo.PathTeams, ativo.PathPrograms, ativo.PathProgramIndex,
	ativo.PathPeriods, ativo.PathPeriodIndex, ativo.PathModelVersion,
}

// EndpointPath maps a control-API endpoint name (team, teams, version,
// programs, program, periods, period, all) to the path key used by the
// Server's methods.
func EndpointPath(name string) (string, error) {
	switch name {
	case "all", "", All:
		return All, nil
	case "version":
		return ativo.PathModelVersion, nil
	case "team", "teams", "programs", "program", "periods", "period":
		return "/" + name, nil
	}
	return "", fmt.Errorf("unknown endpoint %q", name)
}

type faultRule struct {
	fault Fault
	left  int // answers left with this fault; <0 means until changed
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	mu            sync.Mutex
	data          Data
	rendered      map[string][]byte
	token         string
	revoked       bool
	faults        map[string]*faultRule
	delays        map[string]time.Duration
	missing       map[string]bool // prefix+path → 404
	modelVersion  int
	versionHeader bool
	versionFormat VersionFormat
	oversize      int64
	redirectTo    string
	requests      map[string]int
	auths         []string
	gate          chan struct{}
	changed       chan struct{}
	closed        chan struct{}
	control       bool

	srv *http.Server
	url string
}

// Option configures a Server.
type Option func(*Server)

// WithData replaces the demo data set.
func WithData(d Data) Option { return func(s *Server) { s.data = d } }

// WithToken sets the accepted bearer token.
func WithToken(tok string) Option { return func(s *Server) { s.token = tok } }

// WithControl serves the control API under /-/fake/ (see ControlHandler).
func WithControl() Option { return func(s *Server) { s.control = true } }

// New returns a fake serving DemoData with token "demo-token". Like Data
// Center, the Data Center prefix has no index endpoints (/team, /program,
// /period) and no version endpoint; the cloud prefix has every path.
func New(opts ...Option) *Server {
	s := &Server{
		data:          DemoData(),
		token:         "demo-token",
		faults:        map[string]*faultRule{},
		delays:        map[string]time.Duration{},
		missing:       map[string]bool{},
		modelVersion:  ativo.SupportedModelVersion,
		versionHeader: true,
		oversize:      200 << 20,
		requests:      map[string]int{},
		changed:       make(chan struct{}),
		closed:        make(chan struct{}),
	}
	for _, p := range []string{ativo.PathTeamIndex, ativo.PathProgramIndex, ativo.PathPeriodIndex, ativo.PathModelVersion} {
		s.missing[ativo.DataCenterPrefix+p] = true
	}
	for _, o := range opts {
		o(s)
	}
	s.render()
	return s
}

// render pre-encodes every list, so serving a large list costs no CPU in
// the fake during measurements.
func (s *Server) render() {
	idx := func(n int, item func(i int) ativo.IndexItem) []ativo.IndexItem {
		out := make([]ativo.IndexItem, n)
		for i := range out {
			out[i] = item(i)
		}
		return out
	}
	d := s.data
	s.rendered = map[string][]byte{
		ativo.PathTeams:    mustJSON(d.Teams),
		ativo.PathPrograms: mustJSON(d.Programs),
		ativo.PathPeriods:  mustJSON(d.Periods),
		ativo.PathTeamIndex: mustJSON(idx(len(d.Teams), func(i int) ativo.IndexItem {
			return ativo.IndexItem{ID: d.Teams[i].ID, Key: d.Teams[i].Key, Name: d.Teams[i].Name}
		})),
		ativo.PathProgramIndex: mustJSON(idx(len(d.Programs), func(i int) ativo.IndexItem {
			return ativo.IndexItem{ID: d.Programs[i].ID, Key: d.Programs[i].Key, Name: d.Programs[i].Name}
		})),
		ativo.PathPeriodIndex: mustJSON(idx(len(d.Periods), func(i int) ativo.IndexItem {
			return ativo.IndexItem{ID: d.Periods[i].ID, Key: d.Periods[i].Key, Name: d.Periods[i].Name}
		})),
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed Go structs are marshaled
	}
	if bytes.Equal(b, []byte("null")) {
		return []byte("[]")
	}
	return b
}

// SetData replaces the data served.
func (s *Server) SetData(d Data) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = d
	s.render()
}

// SetBody makes path answer with body verbatim (200), on both prefixes,
// for fixtures of undocumented shapes.
func (s *Server) SetBody(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rendered[path] = body
}

// SetToken changes the accepted token (a token rotation).
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// Revoke makes every request fail with 401 until Restore, as when a Jira
// admin revokes the token.
func (s *Server) Revoke() { s.setRevoked(true) }

// Restore undoes Revoke.
func (s *Server) Restore() { s.setRevoked(false) }

func (s *Server) setRevoked(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = v
}

// SetFault makes path (or All) answer with f until changed; FaultNone clears it.
func (s *Server) SetFault(path string, f Fault) { s.SetFaultN(path, f, -1) }

// SetFaultN makes path (or All) answer with f for the next n requests.
func (s *Server) SetFaultN(path string, f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == FaultNone || f == "" || n == 0 {
		delete(s.faults, path)
		return
	}
	s.faults[path] = &faultRule{fault: f, left: n}
}

// SetDelay delays every answer of path (or All) by d; the delay ends
// early when the client gives up.
func (s *Server) SetDelay(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, path)
		return
	}
	s.delays[path] = d
}

// SetMissing makes path answer 404 (or not) on the given prefix.
func (s *Server) SetMissing(prefix, path string, missing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing[prefix+path] = missing
}

// SetModelVersion sets the model version sent in the header and body;
// header false stops sending the header.
func (s *Server) SetModelVersion(v int, header bool, f VersionFormat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modelVersion, s.versionHeader, s.versionFormat = v, header, f
}

// SetOversize sets the size of a FaultOversized body (default 200 MiB).
func (s *Server) SetOversize(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oversize = n
}

// SetRedirect sets where FaultRedirect sends the client (a base URL; the
// request path is appended).
func (s *Server) SetRedirect(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirectTo = strings.TrimRight(base, "/")
}

// Hold closes the gate: requests are counted, then wait until the
// returned release function is called (or their client gives up). Tests
// use it to make scrapes overlap without sleeping.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := make(chan struct{})
	s.gate = g
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.gate == g {
				s.gate = nil
			}
			s.mu.Unlock()
			close(g)
		})
	}
}

// Requests returns how many requests reached path (on either prefix).
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// RequestCounts returns the request count of every path.
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	maps.Copy(out, s.requests)
	return out
}

// TotalRequests returns how many requests reached the fake.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.requests {
		n += v
	}
	return n
}

// Authorizations returns the Authorization headers of the last 100 requests.
func (s *Server) Authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

// WaitRequests blocks until at least n requests in total have arrived, or
// ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		total := 0
		for _, v := range s.requests {
			total += v
		}
		ch := s.changed
		s.mu.Unlock()
		if total >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d requests, saw %d: %w", n, total, ctx.Err())
		}
	}
}

// ServeHTTP serves the API on both prefixes (and the control API when enabled).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.control && strings.HasPrefix(r.URL.Path, "/-/fake/") {
		s.serveControl(w, r)
		return
	}
	prefix, path := splitPrefix(r.URL.Path)

	s.mu.Lock()
	s.requests[path]++
	s.auths = append(s.auths, r.Header.Get("Authorization"))
	if len(s.auths) > 100 {
		s.auths = s.auths[len(s.auths)-100:]
	}
	close(s.changed)
	s.changed = make(chan struct{})
	gate := s.gate
	delay := s.delays[path]
	if delay == 0 {
		delay = s.delays[All]
	}
	s.mu.Unlock()

	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
	}

	s.mu.Lock()
	fault := s.takeFault(path)
	authOK := r.Header.Get("Authorization") == "Bearer "+s.token && s.token != "" && !s.revoked
	missing := prefix == "" || s.missing[prefix+path] || !served(path)
	body := s.rendered[path]
	mv, header, vf := s.modelVersion, s.versionHeader, s.versionFormat
	oversize, redirect := s.oversize, s.redirectTo
	s.mu.Unlock()

	if header {
		w.Header().Set(ativo.ModelVersionHeader, strconv.Itoa(mv))
	}
	switch fault {
	case FaultNone:
	case FaultSlow:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case FaultRedirect:
		http.Redirect(w, r, redirect+r.URL.Path, http.StatusFound)
		return
	default:
		writeFault(w, fault, oversize)
		return
	}
	switch {
	case !authOK:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Unauthorized"}`))
	case missing:
		http.NotFound(w, r)
	case path == ativo.PathModelVersion:
		w.Header().Set("Content-Type", "application/json")
		switch vf {
		case VersionString:
			_, _ = fmt.Fprintf(w, "%q", strconv.Itoa(mv))
		case VersionObject:
			_, _ = fmt.Fprintf(w, `{"version":%d}`, mv)
		default:
			_, _ = fmt.Fprintf(w, "%d", mv)
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
}

func served(path string) bool {
	return slices.Contains(servedPaths, path)
}

// splitPrefix returns the API prefix (cloud or Data Center, after any
// context path) and the path below it; prefix is "" for other paths.
func splitPrefix(p string) (prefix, rest string) {
	for _, pre := range []string{ativo.DataCenterPrefix, ativo.CloudPrefix} {
		if i := strings.Index(p, pre+"/"); i >= 0 {
			return pre, p[i+len(pre):]
		}
	}
	return "", p
}

// takeFault returns the fault for path, consuming one use. Caller holds mu.
func (s *Server) takeFault(path string) Fault {
	for _, key := range []string{path, All} {
		rule := s.faults[key]
		if rule == nil {
			continue
		}
		if rule.left > 0 {
			rule.left--
			if rule.left == 0 {
				delete(s.faults, key)
			}
		}
		return rule.fault
	}
	return FaultNone
}

const loginPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Log in - Jira</title></head>
<body id="jira" class="aui-layout"><form id="login-form" action="/login.jsp" method="post">
<input name="os_username"><input name="os_password" type="password"></form></body></html>
`

func writeFault(w http.ResponseWriter, f Fault, oversize int64) {
	switch f {
	case Fault400, Fault401, Fault403, Fault404, Fault429, Fault500, Fault503:
		code, _ := strconv.Atoi(string(f))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"message":%q}`, http.StatusText(code))
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"id":1,"key":"LION","name":"Lions","type":"BOARD"},{"id":2,"key":`))
	case FaultTruncated:
		body := []byte(`[{"id":1,"key":"LION","name":"Lions","type":"BOARD"},{"id":2,"key":"TIGER","name":"Tigers","type":"BOARD"}]`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		// Hijack-free way to cut the body: the server closes the
		// connection when the handler wrote less than Content-Length.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	case FaultOversized:
		w.Header().Set("Content-Type", "application/json")
		writeOversized(w, oversize)
	case FaultHTML:
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		_, _ = w.Write([]byte(loginPage))
	case FaultEmpty:
		w.WriteHeader(http.StatusOK)
	}
}

// writeOversized streams a valid-looking list of n bytes without holding it.
func writeOversized(w http.ResponseWriter, n int64) {
	chunk := bytes.Repeat([]byte(`{"id":1,"key":"BIG","name":"Big team","type":"BOARD","isArchived":false},`), 512)
	var written int64
	if _, err := w.Write([]byte("[")); err != nil {
		return
	}
	for written < n {
		m, err := w.Write(chunk)
		written += int64(m)
		if err != nil {
			return
		}
	}
	_, _ = w.Write([]byte(`{"id":0}]`))
}

// Start serves on a free loopback port until Close.
func (s *Server) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves on addr until Close.
func (s *Server) StartOn(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL returns the base URL after Start.
func (s *Server) URL() string { return s.url }

// Close stops the server and ends held and slow requests.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	}
}
