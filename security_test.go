package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

// The exporter's own endpoints behind --web.config.file (exporter-toolkit):
// TLS with a certificate made here, basic auth with a bcrypt hash made
// here, and the toolkit's rate_limit. Each test runs the real binary
// against an in-process fake Ativo on loopback.

// selfSigned writes a fresh ECDSA certificate for 127.0.0.1 and its key
// and returns their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "ativo_exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile = writeFile(t, "cert.pem", string(certPEM))
	keyFile = writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("cannot load the generated certificate")
	}
	return certFile, keyFile, pool
}

// lockedBuffer collects the exporter's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startWithWebConfig starts the binary with webConfig against a fake
// Ativo and returns the fake and the listen address. The process is
// stopped by SIGTERM at cleanup and must exit with status 0; the token
// must not be in its log (debug level).
func startWithWebConfig(t *testing.T, webConfig string, extra ...string) (*ativotest.Server, string) {
	t.Helper()
	fake := ativotest.New(ativotest.WithToken(secret))
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	args := append([]string{
		"--web.listen-address=127.0.0.1:0", "--web.config.file=" + writeFile(t, "web.yml", webConfig),
		"--ativo.url=" + fake.URL(), "--ativo.platform=cloud", "--ativo.token-file=" + writeFile(t, "token", secret),
		"--log.level=debug",
	}, extra...)
	cmd := exec.Command(binary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	addr := waitListening(t, io.TeeReader(stderr, logs))
	t.Cleanup(func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Error(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("no exit within 10 s of SIGTERM")
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the token appears in the log:\n%s", logs.String())
		}
	})
	return fake, addr
}

func doGet(t *testing.T, c *http.Client, url string, setup func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	fake, addr := startWithWebConfig(t, "tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  "+user+": '"+string(hash)+"'\n")
	base := "https://" + addr
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer trusting.CloseIdleConnections()
	auth := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }

	// The right user and password over TLS: a full scrape.
	code, body := doGet(t, trusting, base+"/metrics", auth(user, password))
	if code != http.StatusOK || !strings.Contains(body, "\nativo_up 1\n") || !strings.Contains(body, "\nativo_teams 12\n") {
		t.Fatalf("authorized scrape: %d\n%s", code, body)
	}
	requests := fake.TotalRequests()

	// No credentials, a wrong password, an unknown user: 401 on every
	// path, the health endpoints included, and Ativo is not called.
	for _, path := range []string{"/metrics", "/", "/-/healthy", "/-/ready"} {
		for name, setup := range map[string]func(*http.Request){
			"none": nil, "wrong password": auth(user, "wrong"), "unknown user": auth("admin", password),
		} {
			if code, _ := doGet(t, trusting, base+path, setup); code != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d, want 401", path, name, code)
			}
		}
	}
	if got := fake.TotalRequests(); got != requests {
		t.Errorf("unauthorized requests reached Ativo: %d requests", got-requests)
	}
	// The health endpoints answer with credentials (hence tcpSocket
	// probes in Kubernetes when basic auth is on).
	for _, path := range []string{"/-/healthy", "/-/ready"} {
		if code, _ := doGet(t, trusting, base+path, auth(user, password)); code != http.StatusOK {
			t.Errorf("%s with credentials: %d", path, code)
		}
	}

	// Plain HTTP to the TLS port is refused.
	plain := &http.Client{Timeout: 10 * time.Second}
	defer plain.CloseIdleConnections()
	if code, _ := doGet(t, plain, "http://"+addr+"/metrics", auth(user, password)); code != http.StatusBadRequest {
		t.Errorf("plain HTTP: %d, want 400", code)
	}
	// A client that does not trust the certificate fails the handshake.
	untrusting := &http.Client{Timeout: 10 * time.Second}
	defer untrusting.CloseIdleConnections()
	if resp, err := untrusting.Get(base + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("a client without the certificate connected")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	// TLS 1.1 is refused (the toolkit's minimum is TLS 1.2).
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	}}}
	defer old.CloseIdleConnections()
	if resp, err := old.Get(base + "/-/healthy"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client connected")
	}
}

// rate_limit in --web.config.file is exporter-toolkit's: one token bucket
// for the whole server (every client and every path, /-/healthy and
// /-/ready included), checked before authentication. A request over the
// limit gets HTTP 429 at once and never reaches the collector, so it
// costs no Ativo request; Prometheus records such a scrape as failed
// (up == 0). The README documents this; size it as burst ≥ number of
// scrapers and interval ≤ scrape_interval / number of scrapers.
func TestWebConfigRateLimit(t *testing.T) {
	// An interval far above the test's length: no token comes back while
	// it runs, so the outcome does not depend on timing.
	fake, addr := startWithWebConfig(t, "rate_limit:\n  burst: 2\n  interval: 1h\n")
	base := "http://" + addr
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	var codes []int
	for range 2 {
		code, body := doGet(t, c, base+"/metrics", nil)
		if code != http.StatusOK || !strings.Contains(body, "\nativo_up 1\n") {
			t.Fatalf("scrape within the burst: %d\n%s", code, body)
		}
		codes = append(codes, code)
	}
	requests := fake.TotalRequests()
	if requests != 2*2 { // team index and version, per scrape
		t.Fatalf("%d Ativo requests for 2 scrapes", requests)
	}
	for _, path := range []string{"/metrics", "/metrics", "/-/healthy", "/-/ready", "/"} {
		code, body := doGet(t, c, base+path, nil)
		if code != http.StatusTooManyRequests {
			t.Errorf("%s over the limit: %d, want 429\n%s", path, code, body)
		}
		codes = append(codes, code)
	}
	if got := fake.TotalRequests(); got != requests {
		t.Errorf("rate-limited scrapes reached Ativo: %d requests", got-requests)
	}
	t.Logf("status codes: %v", codes)
}

// Basic auth without TLS also works (for a loopback-only set-up), and the
// token never leaks through an authorized landing page.
func TestWebConfigBasicAuthWithoutTLS(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startWithWebConfig(t, "basic_auth_users:\n  prom: '"+string(hash)+"'\n")
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	code, body := doGet(t, c, "http://"+addr+"/", func(r *http.Request) { r.SetBasicAuth("prom", "pw") })
	if code != http.StatusOK || strings.Contains(body, secret) {
		t.Fatalf("landing page: %d, token shown: %v", code, strings.Contains(body, secret))
	}
	if code, _ := doGet(t, c, "http://"+addr+"/metrics", nil); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", code)
	}
}
