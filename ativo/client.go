// Package ativo is a client for the read-only REST API of Ativo Programs
// for Jira, on Jira Cloud and Jira Data Center. It decodes answers as
// streams, keeps only counts, classifies every failure into a Cause and
// never lets the bearer token into an error, a log line or a redirect to
// another host. It knows nothing of Prometheus.
package ativo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/config"
)

// Platform is where Ativo runs: the shared cloud host or a Jira Data Center.
type Platform string

// Platforms and their API path prefixes.
const (
	PlatformAuto       Platform = "auto"
	PlatformCloud      Platform = "cloud"
	PlatformDataCenter Platform = "datacenter"

	CloudPrefix      = "/rest/api/1"
	DataCenterPrefix = "/rest/ativo-programs/1.0/api/1"

	// CloudHost is the one host that serves every cloud tenant.
	CloudHost = "cloud-api.ativo.io"
	// DefaultURL is the cloud API.
	DefaultURL = "https://" + CloudHost
)

// Endpoint labels and the paths behind them, relative to the prefix.
const (
	EndpointTeam     = "team"
	EndpointTeams    = "teams"
	EndpointVersion  = "version"
	EndpointPrograms = "programs"
	EndpointPeriods  = "periods"

	PathTeamIndex    = "/team"
	PathTeams        = "/teams"
	PathPrograms     = "/programs"
	PathProgramIndex = "/program"
	PathPeriods      = "/periods"
	PathPeriodIndex  = "/period"
	PathModelVersion = "/meta/model/version"
)

// ModelVersionHeader is sent by Ativo on every answer.
const ModelVersionHeader = "X-API-Model-Version"

// Retry schedule for 429 within one call (SPEC §5, from Ativo's rate
// limiting page): retry n waits 2^(n-1) s × U[1.0, 1.3], at most 5 times,
// and only while the wait plus retryReserve ends before the deadline.
const (
	maxRetries   = 5
	retryBase    = time.Second
	retryJitter  = 0.3
	retryReserve = 500 * time.Millisecond
)

// DefaultRecheckInterval is how long a 404 that made the client fall back
// to another path (or skip the version endpoint) is remembered.
const DefaultRecheckInterval = time.Hour

// DefaultMaxResponseSize is the default cap on a response body.
const DefaultMaxResponseSize = 64 << 20

// ParseSize reads a response size limit: 64MiB, 64MB (both base 2) or a
// plain byte count; it must be above 0.
func ParseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b, berr := units.ParseBase2Bytes(s)
		if berr != nil {
			return 0, fmt.Errorf("invalid size %q (use a value like 64MiB)", s)
		}
		n = int64(b)
	}
	if n <= 0 {
		return 0, fmt.Errorf("size %q must be above 0", s)
	}
	return n, nil
}

// Config configures a Client.
type Config struct {
	// URL is the cloud API host or the Jira Data Center base URL; a
	// context path and a trailing slash are fine. Credentials in the URL
	// are not used.
	URL string
	// Platform picks the path prefix; auto means cloud for CloudHost,
	// else Data Center.
	Platform Platform
	// Token yields the bearer token on every request, so a rotated token
	// file is picked up without a restart.
	Token config.SecretReader
	// CAFile is an extra PEM bundle trusted besides the system roots.
	CAFile string
	// MaxResponseSize caps every body; 0 means DefaultMaxResponseSize.
	MaxResponseSize int64
	// UserAgent is sent on every request.
	UserAgent string
	// Clock and Rand drive retry waits and rechecks; nil means real time
	// and math/rand. Rand returns a value in [0, 1).
	Clock Clock
	Rand  func() float64
	// Transport replaces the default transport (tests); the token and
	// user agent round trippers are still added on top.
	Transport http.RoundTripper
	// RecheckInterval overrides DefaultRecheckInterval.
	RecheckInterval time.Duration
	// Logger receives debug lines with a short, redacted excerpt of
	// unexpected answers. nil discards them.
	Logger *slog.Logger
}

// Client calls the Ativo API. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	prefix   string
	platform Platform
	http     *http.Client
	token    config.SecretReader
	maxSize  int64
	clock    Clock
	rand     func() float64
	logger   *slog.Logger

	teamRoute    *route
	programRoute *route
	periodRoute  *route
	version      *route // alternate "" means: skip the endpoint
}

// ParseURL checks an Ativo base URL and returns it without credentials,
// query or fragment, and without a trailing slash.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Error repeats the whole input, which may hold credentials.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("invalid URL: scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("invalid URL: no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("invalid URL: query and fragment are not allowed")
	}
	u.User = nil
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ParsePlatform checks a --ativo.platform value.
func ParsePlatform(s string) (Platform, error) {
	switch p := Platform(s); p {
	case PlatformAuto, PlatformCloud, PlatformDataCenter:
		return p, nil
	}
	return "", fmt.Errorf("unknown platform %q (want auto, cloud or datacenter)", s)
}

// ResolvePlatform turns auto into cloud or datacenter for u.
func ResolvePlatform(p Platform, u *url.URL) Platform {
	if p != PlatformAuto {
		return p
	}
	if strings.EqualFold(u.Hostname(), CloudHost) {
		return PlatformCloud
	}
	return PlatformDataCenter
}

// LoadCAFile reads a PEM bundle into a pool that also holds the system roots.
func LoadCAFile(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate found in %s", file)
	}
	return pool, nil
}

// New builds a Client. Its errors name what is wrong but never the token.
func New(cfg Config) (*Client, error) {
	base, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	p := cfg.Platform
	if p == "" {
		p = PlatformAuto
	}
	if _, err := ParsePlatform(string(p)); err != nil {
		return nil, err
	}
	p = ResolvePlatform(p, base)
	prefix := CloudPrefix
	if p == PlatformDataCenter {
		prefix = DataCenterPrefix
	}
	if cfg.Token == nil {
		return nil, ErrNoToken
	}
	rt := cfg.Transport
	if rt == nil {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pool, err := LoadCAFile(cfg.CAFile)
			if err != nil {
				return nil, err
			}
			tlsCfg.RootCAs = pool
		}
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       tlsCfg,
		}
	}
	// The authorization round tripper from prometheus/common sets the
	// header on each request from a fresh Fetch, and leaves it off on a
	// redirect that leaves the original host.
	rt = config.NewAuthorizationCredentialsRoundTripper("Bearer", nonEmptyToken{cfg.Token}, rt)
	if cfg.UserAgent != "" {
		rt = config.NewUserAgentRoundTripper(cfg.UserAgent, rt)
	}
	maxSize := cfg.MaxResponseSize
	if maxSize <= 0 {
		maxSize = DefaultMaxResponseSize
	}
	clock := cfg.Clock
	if clock == nil {
		clock = RealClock
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	recheck := cfg.RecheckInterval
	if recheck <= 0 {
		recheck = DefaultRecheckInterval
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		base:     base,
		prefix:   prefix,
		platform: p,
		http: &http.Client{
			Transport:     rt,
			CheckRedirect: checkRedirect,
		},
		token:        cfg.Token,
		maxSize:      maxSize,
		clock:        clock,
		rand:         rnd,
		logger:       logger,
		teamRoute:    newRoute(PathTeamIndex, PathTeams, recheck),
		programRoute: newRoute(PathPrograms, PathProgramIndex, recheck),
		periodRoute:  newRoute(PathPeriods, PathPeriodIndex, recheck),
		version:      newRoute(PathModelVersion, "", recheck),
	}, nil
}

// checkRedirect follows at most 10 redirects and never from https to
// http, where the token would travel in clear.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("refusing a redirect from https to http")
	}
	return nil
}

// Platform returns the platform in use (never auto).
func (c *Client) Platform() Platform { return c.platform }

// URL returns the base URL in use, without credentials.
func (c *Client) URL() string { return c.base.String() }

// CloseIdleConnections closes kept-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// nonEmptyToken turns an empty token into ErrNoToken, so no request is
// sent with an empty bearer.
type nonEmptyToken struct{ config.SecretReader }

func (t nonEmptyToken) Fetch(ctx context.Context) (string, error) {
	tok, err := t.SecretReader.Fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoToken, err)
	}
	if tok == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNoToken, t.Description())
	}
	return tok, nil
}

// TokenFingerprint reads the token and returns a short hash of it, so a
// caller can tell when the token changed without keeping it. The error
// wraps ErrNoToken when the token cannot be read or is empty.
func (c *Client) TokenFingerprint(ctx context.Context) (string, error) {
	tok, err := nonEmptyToken{c.token}.Fetch(ctx)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8]), nil
}

// TeamCount counts the teams of the index (GET /team). Data Center
// documents no index: after a 404 the client counts GET /teams instead,
// remembers that for an hour and then tries the index again.
func (c *Client) TeamCount(ctx context.Context) (int, error) {
	var n int
	err := c.routed(ctx, EndpointTeam, c.teamRoute, func(r io.Reader) (err error) {
		n, err = countItems(r)
		return err
	})
	return n, err
}

// Teams counts the full team configurations (GET /teams) by type, mode,
// estimation and archived flag.
func (c *Client) Teams(ctx context.Context) (*TeamSummary, error) {
	var sum *TeamSummary
	_, err := c.get(ctx, EndpointTeams, PathTeams, func(r io.Reader) (err error) {
		sum, err = decodeTeams(r)
		return err
	})
	return sum, err
}

// Programs counts programs by archived flag (GET /programs; after a 404,
// the index GET /program, which has no archived flag).
func (c *Client) Programs(ctx context.Context) (*ArchiveCounts, error) {
	return c.archived(ctx, EndpointPrograms, c.programRoute)
}

// Periods counts periods by archived flag (GET /periods; after a 404, the
// index GET /period).
func (c *Client) Periods(ctx context.Context) (*ArchiveCounts, error) {
	return c.archived(ctx, EndpointPeriods, c.periodRoute)
}

func (c *Client) archived(ctx context.Context, endpoint string, rt *route) (*ArchiveCounts, error) {
	var ac *ArchiveCounts
	err := c.routed(ctx, endpoint, rt, func(r io.Reader) (err error) {
		ac, err = decodeArchived(r)
		return err
	})
	return ac, err
}

// ModelVersion asks GET /meta/model/version. A 404 is not an error: the
// endpoint is undocumented on Data Center and older Ativo. It is then
// remembered for an hour (no request is sent meanwhile) and the version
// comes from the X-API-Model-Version header, if the 404 carried one.
func (c *Client) ModelVersion(ctx context.Context) (ModelVersion, error) {
	if c.version.useAlternate(c.clock.Now()) {
		return ModelVersion{Absent: true}, nil
	}
	var v int
	info, err := c.get(ctx, EndpointVersion, PathModelVersion, func(r io.Reader) (err error) {
		v, err = decodeVersion(r)
		return err
	})
	if info.status == http.StatusNotFound {
		c.version.fellBack(c.clock.Now())
		return ModelVersion{Version: info.modelVersion, Absent: true, Requested: true}, nil
	}
	if err != nil {
		return ModelVersion{Requested: true}, err
	}
	c.version.primaryWorked()
	return ModelVersion{Version: v, Requested: true}, nil
}

// routed calls the route's primary path, or its alternate after a 404.
func (c *Client) routed(ctx context.Context, endpoint string, rt *route, decode func(io.Reader) error) error {
	if rt.useAlternate(c.clock.Now()) {
		_, err := c.get(ctx, endpoint, rt.alternate, decode)
		return err
	}
	info, err := c.get(ctx, endpoint, rt.primary, decode)
	if info.status == http.StatusNotFound {
		rt.fellBack(c.clock.Now())
		c.logger.Debug("Ativo path not found, using the fallback", "endpoint", endpoint, "path", rt.primary, "fallback", rt.alternate)
		_, err = c.get(ctx, endpoint, rt.alternate, decode)
		return err
	}
	if err == nil {
		rt.primaryWorked()
	}
	return err
}

// route remembers that a primary path answered 404.
type route struct {
	primary, alternate string
	recheck            time.Duration

	mu        sync.Mutex
	recheckAt time.Time // zero: use the primary
}

func newRoute(primary, alternate string, recheck time.Duration) *route {
	return &route{primary: primary, alternate: alternate, recheck: recheck}
}

func (r *route) useAlternate(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.recheckAt.IsZero() && now.Before(r.recheckAt)
}

func (r *route) fellBack(now time.Time) {
	r.mu.Lock()
	r.recheckAt = now.Add(r.recheck)
	r.mu.Unlock()
}

func (r *route) primaryWorked() {
	r.mu.Lock()
	r.recheckAt = time.Time{}
	r.mu.Unlock()
}

// respInfo is what get learned of the last response.
type respInfo struct {
	status       int
	modelVersion int
}

// get sends GET prefix+path, retrying 429 on the documented schedule while
// the wait fits before the context's deadline, and hands a 2xx JSON body
// to decode.
func (c *Client) get(ctx context.Context, endpoint, path string, decode func(io.Reader) error) (respInfo, error) {
	// The context's deadline is on the wall clock; retry waits are on
	// c.clock. Express the deadline on c.clock once, so an injected clock
	// sees the budget shrink as its waits pass.
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		deadline = c.clock.Now().Add(time.Until(deadline))
	}
	for retry := 0; ; retry++ {
		info, err := c.once(ctx, endpoint, path, decode)
		if info.status != http.StatusTooManyRequests || retry >= maxRetries {
			return info, err
		}
		wait := time.Duration(float64(retryBase) * math.Pow(2, float64(retry)) * (1 + retryJitter*c.rand()))
		if hasDeadline && !c.clock.Now().Add(wait+retryReserve).Before(deadline) {
			return info, err
		}
		select {
		case <-c.clock.After(wait):
		case <-ctx.Done():
			return info, c.fail(endpoint, path, info.status, CauseRateLimited, ctx.Err())
		}
	}
}

func (c *Client) fail(endpoint, path string, status int, cause Cause, err error) *Error {
	return &Error{Endpoint: endpoint, Path: c.prefix + path, Status: status, Cause: cause, Err: err}
}

// once sends one request.
func (c *Client) once(ctx context.Context, endpoint, path string, decode func(io.Reader) error) (info respInfo, err error) {
	u := *c.base
	u.Path = c.base.Path + c.prefix + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return info, c.fail(endpoint, path, 0, CauseClientError, err)
	}
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	start := c.clock.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		cause := classifyTransport(err)
		if cause != CauseNoToken { // nothing was sent
			observe(ctx, RequestInfo{Endpoint: endpoint, Path: path, Duration: c.clock.Now().Sub(start)})
		}
		return info, c.fail(endpoint, path, 0, cause, unwrapURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	info.status = resp.StatusCode
	if v, ok := ParseModelVersion(strings.TrimSpace(resp.Header.Get(ModelVersionHeader))); ok {
		info.modelVersion = v
	}
	err = c.readBody(resp, decode)
	observe(ctx, RequestInfo{
		Endpoint: endpoint, Path: path, Status: resp.StatusCode,
		Duration: c.clock.Now().Sub(start), ModelVersion: info.modelVersion,
	})
	if err != nil {
		return info, c.fail(endpoint, path, resp.StatusCode, classifyTransport(err), unwrapURLError(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return info, c.fail(endpoint, path, resp.StatusCode, classifyStatus(resp.StatusCode), nil)
	}
	return info, nil
}

// loginPeek is how much of a 2xx body is looked at to tell JSON from HTML.
const loginPeek = 512

func (c *Client) readBody(resp *http.Response, decode func(io.Reader) error) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.logExcerpt(resp)
		return nil
	}
	if resp.ContentLength > c.maxSize {
		return fmt.Errorf("%w: Content-Length %d > %d", ErrTooLarge, resp.ContentLength, c.maxSize)
	}
	body := bufio.NewReaderSize(&capReader{r: resp.Body, left: c.maxSize}, loginPeek)
	first, err := firstByte(body)
	switch {
	case errors.Is(err, io.EOF):
		return &DecodeError{Msg: "empty body"}
	case err != nil:
		return err
	case first == '<' || strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/html"):
		c.logger.Debug("Ativo answered with an HTML page", "status", resp.StatusCode)
		return ErrLoginPage
	}
	if err := decode(body); err != nil {
		return err
	}
	// Read what is left (trailing whitespace) so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return nil
}

// firstByte peeks past whitespace and a byte order mark.
func firstByte(r *bufio.Reader) (byte, error) {
	for n := 1; n <= loginPeek; n++ {
		b, err := r.Peek(n)
		if len(b) < n {
			if err == nil || errors.Is(err, bufio.ErrBufferFull) {
				err = io.EOF
			}
			return 0, err
		}
		switch c := b[n-1]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case n <= 3 && string(b) == "\xef\xbb\xbf"[:n]:
		default:
			return c, nil
		}
	}
	return ' ', nil
}

// logExcerpt logs at debug a short excerpt of an error answer, with
// anything that looks like the token removed.
func (c *Client) logExcerpt(resp *http.Response) {
	if !c.logger.Enabled(context.Background(), slog.LevelDebug) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return
	}
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	tok, _ := c.token.Fetch(context.Background())
	c.logger.Debug("Ativo answered with an error", "status", resp.StatusCode, "path", resp.Request.URL.Path, "body", Redact(buf, tok, 160))
}

// Redact returns at most max bytes of b as printable text with every
// occurrence of token and every "Bearer <value>" replaced.
func Redact(b []byte, token string, max int) string {
	s := string(b)
	if token != "" {
		s = strings.ReplaceAll(s, token, "[REDACTED]")
	}
	var out strings.Builder
	fields := strings.Fields(s)
	for i := 0; i < len(fields); i++ {
		if i > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(fields[i])
		if strings.EqualFold(fields[i], "bearer") && i+1 < len(fields) {
			out.WriteString(" [REDACTED]")
			i++
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, out.String())
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// unwrapURLError drops url.Error's wrapper, whose text repeats the URL;
// the Error around it names the path already.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// capReader returns ErrTooLarge once more than left bytes have been read,
// instead of silently cutting the body like io.LimitReader.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}
