package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

func post(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
	return rec.Code, rec.Body.String()
}

func startFake(t *testing.T, token string) *httptest.Server {
	t.Helper()
	fake := ativotest.New(ativotest.WithToken(token))
	srv := httptest.NewServer(fake)
	t.Cleanup(func() {
		fake.Close()
		srv.Close()
	})
	return srv
}

func sitesFile(t *testing.T, dir string, sites map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("sites:\n")
	for name, url := range sites {
		writeFileIn(t, dir, name+".token", "token-"+name)
		b.WriteString("  - name: " + name + "\n    url: " + url + "\n    platform: cloud\n    token_file: " + name + ".token\n")
	}
	return writeFileIn(t, dir, "sites.yml", b.String())
}

func TestSitesOnlyAndReload(t *testing.T) {
	dir := t.TempDir()
	prod := startFake(t, "token-prod")
	file := sitesFile(t, dir, map[string]string{"prod": prod.URL})
	var logs bytes.Buffer
	_, mux := newMux(t, []string{"--config.file", file}, nil, &logs)

	code, body := get(t, mux, "/metrics")
	if code != 200 || strings.Contains(body, "ativo_up") || !strings.Contains(body, "ativo_exporter_build_info") ||
		!strings.Contains(body, "\nativo_exporter_config_last_reload_successful 1\n") {
		t.Fatalf("/metrics with sites only (%d):\n%s", code, body)
	}
	if code, _ := get(t, mux, "/-/ready"); code != 200 {
		t.Fatalf("/-/ready with sites only: %d", code)
	}
	code, body = get(t, mux, "/probe?target=prod")
	if code != 200 || !strings.Contains(body, "\nativo_up 1\n") {
		t.Fatalf("/probe (%d):\n%s", code, body)
	}
	if code, body := get(t, mux, "/"); code != 200 || !strings.Contains(body, `href="probe?target=prod"`) {
		t.Fatalf("landing page (%d):\n%s", code, body)
	}
	// The lifecycle API is off by default.
	if code, _ := post(t, mux, "/-/reload"); code != http.StatusForbidden {
		t.Fatalf("/-/reload without --web.enable-lifecycle: %d", code)
	}
}

func TestReloadEndpoint(t *testing.T) {
	dir := t.TempDir()
	prod := startFake(t, "token-prod")
	sandbox := startFake(t, "token-sandbox")
	file := sitesFile(t, dir, map[string]string{"prod": prod.URL})
	var logs bytes.Buffer
	_, mux := newMux(t, []string{"--config.file", file, "--web.enable-lifecycle"}, nil, &logs)

	if code, _ := get(t, mux, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d", code)
	}
	sitesFile(t, dir, map[string]string{"prod": prod.URL, "sandbox": sandbox.URL})
	if code, body := post(t, mux, "/-/reload"); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if code, body := get(t, mux, "/probe?target=sandbox"); code != 200 || !strings.Contains(body, "\nativo_up 1\n") {
		t.Fatalf("new site after reload (%d):\n%s", code, body)
	}
	// A bad file: rejected, logged, the previous sites keep serving.
	writeFileIn(t, dir, "sites.yml", "sites:\n  - name: prod\n    url: ftp://x\n")
	if code, body := post(t, mux, "/-/reload"); code != http.StatusInternalServerError || !strings.Contains(body, "url: invalid URL") {
		t.Fatalf("bad reload: %d %s", code, body)
	}
	if code, _ := get(t, mux, "/probe?target=sandbox"); code != 200 {
		t.Fatalf("sandbox after a bad reload: %d", code)
	}
	_, body := get(t, mux, "/metrics")
	if !strings.Contains(body, "\nativo_exporter_config_last_reload_successful 0\n") ||
		!strings.Contains(body, "ativo_exporter_config_last_reload_success_timestamp_seconds 1.") {
		t.Fatalf("reload metrics:\n%s", body)
	}
	if !strings.Contains(logs.String(), "Sites file rejected") {
		t.Fatalf("no log line for the rejected file:\n%s", logs.String())
	}
}

func TestBinaryConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := sitesFile(t, dir, map[string]string{"prod": "https://cloud-api.ativo.io"})
	out, err := exec.Command(binary, "--config.file", good, "--config.check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is valid: 1 sites (prod)") {
		t.Fatalf("good file: %v %s", err, out)
	}
	bad := writeFileIn(t, dir, "bad.yml", "sites:\n  - name: prod\n    url: https://x\n    token_file: missing\n")
	cmd := exec.Command(binary, "--config.file", bad, "--config.check")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "sites[0] (prod): token_file: cannot read") ||
		strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
		t.Fatalf("bad file: %v %q", err, stderr.String())
	}
}

// SIGHUP reloads the sites file of the running binary.
func TestBinarySIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	prod := startFake(t, "token-prod")
	file := sitesFile(t, dir, map[string]string{"prod": prod.URL})
	cmd := exec.Command(binary, "--config.file", file, "--web.listen-address=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	lines := make(chan string, 100)
	addr := waitListeningLines(t, stderr, lines)
	sandbox := startFake(t, "token-sandbox")
	sitesFile(t, dir, map[string]string{"prod": prod.URL, "sandbox": sandbox.URL})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `msg="Sites file loaded"`, "sandbox")
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/probe?target=sandbox")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("probe after SIGHUP: %d", resp.StatusCode)
	}
}
