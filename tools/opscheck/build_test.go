package opscheck

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Values passed as build args; the test checks that they reach the binary.
const (
	testVersion  = "0.0.0-opscheck"
	testRevision = "0123456789abcdef"
	testBranch   = "opscheck"
)

// rootModulePackageDirs lists the directories of the root module's packages that the
// exporter binary is built from.
func rootModulePackageDirs(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if and .Module .Module.Main}}{{.Dir}}{{end}}", ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v", root, err)
	}
	return strings.Fields(string(out))
}

// TestStaticBuildRuns runs the Dockerfile's build command (the RUN of its build stage, with
// /out replaced by a temporary directory) on this machine, checks that the result is a
// static binary carrying the version passed as build args, and starts it in --demo mode.
func TestStaticBuildRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter")
	}
	root := repoRoot(t)
	run := buildRun(t, parseDockerfile(t).stages[0])
	out := t.TempDir()
	run = strings.ReplaceAll(run, "/out/", out+"/")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", run)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"GOWORK=off",
		"VERSION="+testVersion, "REVISION="+testRevision, "BRANCH="+testBranch,
		"BUILD_USER=opscheck", "BUILD_DATE=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build command failed: %v\n%s\n%s", err, run, b)
	}
	bin := filepath.Join(out, "ativo_exporter")

	assertStatic(t, bin)

	v, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, v)
	}
	wantVersion := fmt.Sprintf("version %s (branch: %s, revision: %s)", testVersion, testBranch, testRevision)
	if !strings.Contains(string(v), wantVersion) || !strings.Contains(string(v), "build user:       opscheck") {
		t.Errorf("--version printed:\n%s\nwant it to contain %q and the build user", v, wantVersion)
	}
	if !regexp.MustCompile(`build date:\s+\d{8}-\d{2}:\d{2}:\d{2}`).Match(v) {
		t.Errorf("--version shows no build date:\n%s", v)
	}

	addr := freeLoopbackAddr(t)
	srv := exec.Command(bin, "--demo", "--web.listen-address="+addr, "--log.level=warn")
	var logs syncBuffer
	srv.Stdout, srv.Stderr = &logs, &logs
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})

	base := "http://" + addr
	waitHTTP200(t, base+"/-/healthy", exited, &logs)
	if code, _ := get(t, base+"/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready: HTTP %d, want 200", code)
	}
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, re := range []string{
		`(?m)^ativo_up 1$`,
		`(?m)^ativo_teams \d+$`,
		`(?m)^ativo_api_model_version_supported 9$`,
		`(?m)^ativo_exporter_build_info\{.*version="` + regexp.QuoteMeta(testVersion) + `".*\} 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics does not match %s", re)
		}
	}

	// SIGTERM ends the process with status 0.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
		exited <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Errorf("still running 15s after SIGTERM")
	}
}

func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (program header %v)", bin, p.Type)
		}
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitHTTP200 polls url until it answers 200, the process exits, or 30 s pass.
func waitHTTP200(t *testing.T, url string, exited chan error, logs fmt.Stringer) {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("exporter exited before serving: %v\n%s", err, logs.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s\n%s", url, logs.String())
		}
	}
}

// syncBuffer collects a child process' output while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
