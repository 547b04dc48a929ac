package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/bootstrap"
	"go.uber.org/goleak"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
	"github.com/ativo-exporter/ativo_exporter/collector"
)

const secret = "s3cret-TOKEN-main-9c1b"

var binary string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ativo_exporter_test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ativo_exporter")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	return writeFileIn(t, t.TempDir(), name, content)
}

func writeFileIn(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parse registers the flags as main does (bootstrap's included) and validates.
func parse(t *testing.T, args []string, env map[string]string) (*settings, error) {
	t.Helper()
	app := kingpin.New(exporterName, "")
	f := addFlags(app)
	bootstrap.New(bootstrap.Config{App: app, Name: exporterName, DefaultAddress: defaultAddress,
		MetricsHandlerFactory: func(*bootstrap.Bootstrap) (http.Handler, error) { return nil, nil }})
	for k, v := range env {
		t.Setenv(k, v) // kingpin reads Envar defaults from the process
	}
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	return f.validate(func(k string) string { return env[k] })
}

func TestFlagValidation(t *testing.T) {
	token := writeFile(t, "token", secret+"\n")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{"token file", []string{"--ativo.token-file", token}, nil, ""},
		{"token env", nil, map[string]string{"ATIVO_TOKEN": secret}, ""},
		{"token file from env", nil, map[string]string{"ATIVO_TOKEN_FILE": token}, ""},
		{"no token source", nil, nil, "--ativo.token-file: no token source"},
		{"empty ATIVO_TOKEN is unset", nil, map[string]string{"ATIVO_TOKEN": ""}, "no token source"},
		{"two token sources", []string{"--ativo.token-file", token}, map[string]string{"ATIVO_TOKEN": secret}, "--ativo.token-file: two token sources"},
		{"unreadable token file", []string{"--ativo.token-file", "/nonexistent/token"}, nil, "--ativo.token-file: cannot read the token: open /nonexistent/token"},
		{"bad url", []string{"--ativo.token-file", token, "--ativo.url", "ftp://jira"}, nil, "--ativo.url: invalid URL"},
		{"url without host", []string{"--ativo.token-file", token, "--ativo.url", "jira.example.com"}, nil, "--ativo.url: invalid URL"},
		{"unknown platform", []string{"--ativo.token-file", token, "--ativo.platform", "server"}, nil, `--ativo.platform: unknown platform "server"`},
		{"bad CA file", []string{"--ativo.token-file", token, "--ativo.ca-file", notPEM}, nil, "--ativo.ca-file: no PEM certificate"},
		{"missing CA file", []string{"--ativo.token-file", token, "--ativo.ca-file", "/nonexistent/ca"}, nil, "--ativo.ca-file: open /nonexistent/ca"},
		{"bad timeout", []string{"--ativo.token-file", token, "--ativo.timeout", "abc"}, nil, `--ativo.timeout: invalid duration "abc"`},
		{"zero timeout", []string{"--ativo.token-file", token, "--ativo.timeout", "0s"}, nil, "--ativo.timeout: duration"},
		{"negative offset", []string{"--ativo.token-file", token, "--timeout-offset=-1s"}, nil, "--timeout-offset: duration"},
		{"bad cache ttl", []string{"--ativo.token-file", token, "--ativo.cache-ttl", "soon"}, nil, "--ativo.cache-ttl: invalid duration"},
		{"prometheus duration", []string{"--ativo.token-file", token, "--ativo.cache-ttl", "1d"}, nil, ""},
		{"bad size", []string{"--ativo.token-file", token, "--ativo.max-response-size", "big"}, nil, "--ativo.max-response-size: invalid size"},
		{"zero size", []string{"--ativo.token-file", token, "--ativo.max-response-size", "0"}, nil, "--ativo.max-response-size: size"},
		{"demo", []string{"--demo"}, nil, ""},
		{"demo with url", []string{"--demo", "--ativo.url", "https://jira.example.com"}, nil, "--demo: cannot be combined with --ativo.url"},
		{"demo with ATIVO_URL", []string{"--demo"}, map[string]string{"ATIVO_URL": "https://jira.example.com"}, "--demo: cannot be combined with --ativo.url"},
		{"demo with token file", []string{"--demo", "--ativo.token-file", token}, nil, "--demo: cannot be combined with --ativo.token-file"},
		{"demo with ATIVO_TOKEN", []string{"--demo"}, map[string]string{"ATIVO_TOKEN": secret}, "--demo: cannot be combined with the ATIVO_TOKEN"},
		{"demo with empty ATIVO_TOKEN", []string{"--demo"}, map[string]string{"ATIVO_TOKEN": ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parse(t, tc.args, tc.env)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if s == nil {
					t.Fatal("no settings")
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the token appears in the error: %v", err)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	token := writeFile(t, "token", secret)
	s, err := parse(t, []string{"--ativo.token-file", token, "--ativo.url", "https://jira.example.com/jira/", "--timeout-offset", "0.5s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.platform != ativo.PlatformDataCenter || s.url != "https://jira.example.com/jira" || s.timeoutOffset != 500*time.Millisecond {
		t.Fatalf("%+v", s)
	}
	if !s.enabled[collector.CollectorTeam] || !s.enabled[collector.CollectorVersion] || s.enabled[collector.CollectorPrograms] {
		t.Fatalf("default collectors: %v", s.enabled)
	}
	s, err = parse(t, []string{"--demo", "--no-collector.periods"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"team": true, "version": true, "team-configurations": true, "programs": true, "periods": false}
	for k, v := range want {
		if s.enabled[k] != v {
			t.Errorf("demo collector %s = %v, want %v", k, s.enabled[k], v)
		}
	}
}

// newMux wires an exporter the way bootstrap does, on a plain ServeMux.
func newMux(t *testing.T, args []string, env map[string]string, logs io.Writer) (*exporter, *http.ServeMux) {
	t.Helper()
	app := kingpin.New(exporterName, "")
	e := &exporter{flags: addFlags(app), getenv: func(k string) string { return env[k] }}
	if _, err := app.Parse(args); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := &bootstrap.Bootstrap{Logger: logger, MetricsPath: "/metrics", MaxRequests: 40}
	h, err := e.factory(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.close()
		if e.client != nil {
			e.client.CloseIdleConnections()
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/metrics", b.MaxRequestsHandler(h))
	e.routes(mux, "/metrics", b.MaxRequestsHandler, promhttp.HandlerOpts{})
	return e, mux
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestMuxDemo(t *testing.T) {
	var logs bytes.Buffer
	_, mux := newMux(t, []string{"--demo"}, nil, &logs)
	code, body := get(t, mux, "/metrics")
	if code != 200 || !strings.Contains(body, "\nativo_up 1\n") || !strings.Contains(body, "\nativo_teams 12\n") ||
		!strings.Contains(body, `ativo_programs{archived="false"} 2`) || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, "ativo_exporter_build_info{") {
		t.Fatalf("/metrics %d:\n%s", code, body)
	}
	code, body = get(t, mux, "/")
	if code != 200 || !strings.Contains(body, `id="demo-banner"`) || !strings.Contains(body, `<span class="up">up</span>`) {
		t.Fatalf("landing page %d:\n%s", code, body)
	}
	if code, _ := get(t, mux, "/nope"); code != 404 {
		t.Fatalf("/nope: %d", code)
	}
	if code, _ := get(t, mux, "/-/healthy"); code != 200 {
		t.Fatalf("/-/healthy: %d", code)
	}
	if code, _ := get(t, mux, "/-/ready"); code != 200 {
		t.Fatalf("/-/ready: %d", code)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "Demo mode") {
		t.Fatalf("no demo warning in the log:\n%s", logs.String())
	}
}

// Against a fake with the token in a file, through a revocation and a
// redirect to another host, at debug level: the token appears nowhere.
func TestMuxNeverShowsTheToken(t *testing.T) {
	fake := ativotest.New(ativotest.WithToken(secret))
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	tokenFile := writeFile(t, "token", secret)
	var logs bytes.Buffer
	e, mux := newMux(t, []string{"--ativo.url", srv.URL, "--ativo.platform", "cloud", "--ativo.token-file", tokenFile,
		"--collector.team-configurations", "--collector.programs", "--collector.periods"}, nil, &logs)

	check := func(what string) {
		t.Helper()
		for _, path := range []string{"/metrics", "/", "/-/ready", "/-/healthy"} {
			_, body := get(t, mux, path)
			if strings.Contains(body, secret) {
				t.Fatalf("%s: token in %s:\n%s", what, path, body)
			}
		}
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("%s: token in the log:\n%s", what, logs.String())
		}
	}
	check("healthy")
	fake.Revoke()
	check("revoked")
	_, body := get(t, mux, "/metrics")
	if !strings.Contains(body, "\nativo_api_token_valid 0\n") {
		t.Fatalf("after revocation:\n%s", body)
	}
	fake.Restore()
	fake.SetRedirect(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	fake.SetFault(ativotest.All, ativotest.FaultRedirect)
	check("redirected")
	for _, a := range fake.Authorizations() {
		if a != "" && a != "Bearer "+secret {
			t.Fatalf("unexpected Authorization %q", a)
		}
	}
	// The redirected hop reached the same fake under another host name
	// without the token, so it was refused.
	if auths := fake.Authorizations(); auths[len(auths)-1] != "" {
		t.Fatalf("the redirected request carried %q", auths[len(auths)-1])
	}
	for _, st := range e.site.Status() {
		if strings.Contains(st.Error, secret) {
			t.Fatalf("token in status: %+v", st)
		}
	}

	// The token file disappears: not ready, scrapes say no_token.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, mux, "/-/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("/-/ready without a token: %d", code)
	}
	_, body = get(t, mux, "/metrics")
	if !strings.Contains(body, `ativo_api_request_failures_total{cause="no_token",endpoint="teams"} 1`) {
		t.Fatalf("no_token not counted:\n%s", body)
	}
}

func TestMuxDisableExporterMetrics(t *testing.T) {
	app := kingpin.New(exporterName, "")
	e := &exporter{flags: addFlags(app), getenv: func(string) string { return "" }}
	if _, err := app.Parse([]string{"--demo"}); err != nil {
		t.Fatal(err)
	}
	b := &bootstrap.Bootstrap{Logger: slog.New(slog.DiscardHandler), MetricsPath: "/metrics", DisableExporterMetrics: true}
	h, err := e.factory(b)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		e.close()
		e.client.CloseIdleConnections()
	}()
	_, body := get(t, h, "/metrics")
	if strings.Contains(body, "go_goroutines") || strings.Contains(body, "promhttp_") || !strings.Contains(body, "ativo_exporter_build_info") {
		t.Fatalf("with --web.disable-exporter-metrics:\n%s", body)
	}
}

// The binary itself: bad input exits 1 with one line naming the flag.
func TestBinaryStartupErrors(t *testing.T) {
	token := writeFile(t, "token", secret)
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{nil, nil, "--ativo.token-file: no token source"},
		{[]string{"--ativo.token-file", token}, []string{"ATIVO_TOKEN=" + secret}, "two token sources"},
		{[]string{"--ativo.token-file", "/nonexistent"}, nil, "--ativo.token-file: cannot read"},
		{[]string{"--ativo.token-file", token, "--ativo.url", "::"}, nil, "--ativo.url"},
		{[]string{"--ativo.token-file", token, "--ativo.platform", "x"}, nil, "--ativo.platform"},
		{[]string{"--ativo.token-file", token, "--ativo.timeout", "x"}, nil, "--ativo.timeout"},
		{[]string{"--demo", "--ativo.url", "https://x"}, nil, "--demo"},
		{[]string{"--no-such-flag"}, nil, "unknown long flag '--no-such-flag'"},
	} {
		cmd := exec.Command(binary, append(tc.args, "--web.listen-address=127.0.0.1:0")...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%v: exit %v, want 1", tc.args, err)
			continue
		}
		out := strings.TrimRight(stderr.String(), "\n")
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) || !strings.HasPrefix(out, "ativo_exporter: ") {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, out, tc.want)
		}
		if strings.Contains(out, secret) {
			t.Errorf("token in stderr: %q", out)
		}
	}
}

// The binary in demo mode serves the README's quick start, and SIGTERM
// ends it with status 0.
func TestBinaryDemo(t *testing.T) {
	cmd := exec.Command(binary, "--demo", "--web.listen-address=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	addr := waitListening(t, stderr)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nativo_up 1\n") || !strings.Contains(string(body), "\nativo_teams 12\n") {
		t.Fatalf("demo /metrics:\n%s", body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGTERM")
	}
}

var listenRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// waitListening reads the log until the server says where it listens,
// then drains the rest in the background.
func waitListening(t *testing.T, r io.Reader) string {
	t.Helper()
	return waitListeningLines(t, r, nil)
}

// waitListeningLines is waitListening that also hands every log line to
// lines (when not nil; lines that do not fit are dropped).
func waitListeningLines(t *testing.T, r io.Reader, lines chan<- string) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if lines != nil {
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("the exporter did not start listening within 30 s")
		return ""
	}
}

// waitLine waits up to 30 s for a log line containing every part.
func waitLine(t *testing.T, lines <-chan string, parts ...string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-lines:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		case <-timeout:
			t.Fatalf("no log line with %q within 30 s", parts)
		}
	}
}

func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	app := kingpin.New(exporterName, "")
	addFlags(app)
	bootstrap.New(bootstrap.Config{App: app, Name: exporterName, DefaultAddress: defaultAddress,
		MetricsHandlerFactory: func(*bootstrap.Bootstrap) (http.Handler, error) { return nil, nil }})
	for _, f := range app.Model().Flags {
		if f.Name == "help" || f.Hidden {
			continue
		}
		if !strings.Contains(string(readme), "--"+f.Name+"`") && !strings.Contains(string(readme), "--[no-]"+f.Name+"`") {
			t.Errorf("README.md flags table lacks --%s", f.Name)
		}
	}
}

func TestBinaryVersion(t *testing.T) {
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ativo_exporter, version ") || !strings.Contains(string(out), "go version:") {
		t.Fatalf("--version: %v %q", err, out)
	}
}

// The fake that --demo serves must not pull the testing package into the
// binary.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for dep := range strings.SplitSeq(string(out), "\n") {
		if dep == "testing" || dep == "net/http/httptest" {
			t.Fatalf("the binary depends on %s", dep)
		}
	}
}
