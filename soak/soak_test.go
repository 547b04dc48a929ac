//go:build soak

// Package soak runs the exporter binary for minutes against the fake
// Ativo (cmd/fakeativo) while scrapes arrive at a high rate and the fake
// cycles through every fault. Run with `make soak` (scripts/soak.sh);
// SOAK_DURATION sets the length (default 2m).
//
// It fails on:
//   - a scrape that answers later than its deadline plus scrapeMargin,
//     or with another status than 200;
//   - resident memory (VmRSS) more than rssGrowth above the level after
//     warm-up at the end, or a peak (VmHWM) above rssPeak;
//   - more goroutines (go_goroutines) after the run, once faults are
//     cleared, than after warm-up plus goroutineGrowth;
//   - the token in any log line (debug level);
//   - the exporter exiting before the end, or not with status 0 on SIGTERM.
package soak

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var duration = flag.Duration("soak.duration", 2*time.Minute, "how long to soak")

// Bounds (stated here and in the report the test logs).
const (
	scrapeMargin    = time.Second // past the deadline, on a 2-core machine under full load
	rssGrowth       = 16 << 20    // end vs after warm-up
	rssPeak         = 96 << 20    // VmHWM over the whole run
	goroutineGrowth = 10          // end vs after warm-up
	exporterTimeout = 3 * time.Second
	timeoutOffset   = 500 * time.Millisecond
	scrapers        = 4
	stepEvery       = 1500 * time.Millisecond
)

var exporterBin, fakeBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ativo-soak-")
	if err != nil {
		panic(err)
	}
	exporterBin, fakeBin = filepath.Join(dir, "ativo_exporter"), filepath.Join(dir, "fakeativo")
	for bin, pkg := range map[string]string{exporterBin: "..", fakeBin: "../cmd/fakeativo"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			os.Stderr.Write(out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// step is one state of the fake: control calls made when it begins.
type step struct {
	name  string
	calls []url.Values // each: action plus query
	// noToken empties the exporter's token file for this step (cause
	// no_token); every other step writes the token back.
	noToken bool
}

func ctl(action string, kv ...string) url.Values {
	v := url.Values{"_action": {action}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func reset() []url.Values {
	return []url.Values{
		ctl("fault", "endpoint", "all", "fault", "none"),
		ctl("delay", "endpoint", "all", "duration", "0s"),
		ctl("token/restore"),
	}
}

// cycle is every fault on every endpoint at once, then on one endpoint
// while the others answer, plus delays, revocation and a token change.
// The final quarter of the run adds a persistent 429, which puts the
// site in backoff.
func cycle(token string) []step {
	// First, so that the one-minute CI soak reaches it too.
	steps := []step{{name: "token file emptied (no_token)", calls: reset(), noToken: true}}
	// 429 is left to the final quarter: scrapes with short deadlines
	// leave no room for a retry, so any 429 puts the site in a backoff
	// of 30 s or more, during which no other fault would reach it.
	faults := []string{"400", "401", "403", "404", "500", "503", "slow", "malformed", "truncated", "oversized", "html", "empty", "redirect"}
	endpoints := []string{"team", "teams", "version", "programs", "periods"}
	for i, f := range faults {
		all := ctl("fault", "endpoint", "all", "fault", f)
		one := ctl("fault", "endpoint", endpoints[i%len(endpoints)], "fault", f)
		steps = append(steps,
			step{name: "all:" + f, calls: append(reset(), all)},
			step{name: endpoints[i%len(endpoints)] + ":" + f, calls: append(reset(), one)},
		)
	}
	steps = append(steps,
		step{name: "healthy", calls: reset()},
		step{name: "delay 800ms", calls: append(reset(), ctl("delay", "endpoint", "all", "duration", "800ms"))},
		step{name: "delay 5s (past the deadline)", calls: append(reset(), ctl("delay", "endpoint", "teams", "duration", "5s"))},
		step{name: "revoked", calls: append(reset(), ctl("token/revoke"))},
		step{name: "token rotated away", calls: append(reset(), ctl("token", "value", "another-token"))},
		step{name: "token back", calls: append(reset(), ctl("token", "value", token))},
	)
	return steps
}

type sample struct {
	at         time.Duration
	rss        int64
	goroutines int
}

func TestSoak(t *testing.T) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	token := "soak-" + hex.EncodeToString(raw[:])
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The fake prints its URL on stdout once it listens.
	fake := exec.Command(fakeBin, "--listen", "127.0.0.1:0", "--token-file", tokenFile)
	fakeOut, err := fake.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	fake.Stderr = os.Stderr
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	fakeDone := make(chan error, 1)
	go func() { fakeDone <- fake.Wait() }()
	defer stopPID(t, fake.Process.Pid, fakeDone, "fakeativo")
	fakeURL, err := bufio.NewReader(fakeOut).ReadString('\n')
	if err != nil {
		t.Fatalf("fakeativo: %v", err)
	}
	fakeURL = strings.TrimSpace(fakeURL)
	go func() { _, _ = io.Copy(io.Discard, fakeOut) }()

	exp := exec.Command(exporterBin,
		"--web.listen-address=127.0.0.1:0", "--ativo.url="+fakeURL, "--ativo.platform=cloud",
		"--ativo.token-file="+tokenFile, "--ativo.timeout="+exporterTimeout.String(),
		"--timeout-offset="+timeoutOffset.String(), "--log.level=debug",
		"--collector.team-configurations", "--collector.programs", "--collector.periods")
	expErr, err := exp.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	pid := exp.Process.Pid
	logs := newLogWatch(token)
	listening := make(chan string, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		logs.read(expErr, listening)
	}()
	expDone := make(chan error, 1)
	go func() {
		<-logsDone // Wait closes the pipe; read it to the end first
		expDone <- exp.Wait()
	}()
	var addr string
	select {
	case addr = <-listening:
	case err := <-expDone:
		t.Fatalf("the exporter exited at start: %v\n%s", err, logs.tail())
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the exporter did not listen within 30 s\n%s", logs.tail())
	}
	metricsURL := "http://" + addr + "/metrics"
	client := &http.Client{Timeout: exporterTimeout + 10*time.Second}
	defer client.CloseIdleConnections()

	control := func(v url.Values) {
		action := v.Get("_action")
		q := url.Values{}
		for k, vs := range v {
			if k != "_action" {
				q[k] = vs
			}
		}
		resp, err := client.Post(fakeURL+"/-/fake/"+action+"?"+q.Encode(), "", nil)
		if err != nil {
			t.Errorf("fake control %s: %v", action, err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("fake control %s %v: %s", action, q, resp.Status)
		}
	}

	// Warm-up: a healthy site, some scrapes, then the baseline.
	for range 20 {
		if _, _, err := scrapeOnce(client, metricsURL, ""); err != nil {
			t.Fatal(err)
		}
	}
	baseBody, _, err := scrapeOnce(client, metricsURL, "")
	if err != nil {
		t.Fatal(err)
	}
	baseGoroutines := metricInt(baseBody, "go_goroutines")
	baseRSS := vmKB(t, pid, "VmRSS") << 10

	// The run.
	start := time.Now()
	end := start.Add(*duration)
	var (
		scrapes, late atomic.Int64
		mu            sync.Mutex
		slack         []time.Duration // elapsed - allowed, per scrape
		failures      []string
		lastBody      atomic.Value
		wg            sync.WaitGroup
	)
	headers := []string{"", "2", "3", "10", "1.2", "abc"}
	for i := range scrapers {
		wg.Go(func() {
			for n := i; time.Now().Before(end); n++ {
				h := headers[n%len(headers)]
				body, elapsed, err := scrapeOnce(client, metricsURL, h)
				scrapes.Add(1)
				allowed := allowedTime(h)
				mu.Lock()
				slack = append(slack, elapsed-allowed)
				if err != nil {
					failures = append(failures, err.Error())
				} else if elapsed > allowed+scrapeMargin {
					late.Add(1)
					failures = append(failures, fmt.Sprintf("scrape with header %q took %v, deadline %v", h, elapsed, allowed))
				}
				mu.Unlock()
				if err == nil {
					lastBody.Store(body)
				}
				select {
				case err := <-expDone:
					expDone <- err
					return
				default:
				}
			}
		})
	}

	// The fault cycle and the samples, on one ticker.
	steps := cycle(token)
	var samples []sample
	seen := map[string]bool{}
	persistent429 := false
	ticker := time.NewTicker(stepEvery)
	for i := 0; time.Now().Before(end); i++ {
		// The final quarter: a persistent 429 until the end.
		if !persistent429 {
			st := steps[i%len(steps)]
			if time.Since(start) > *duration*3/4 {
				persistent429 = true
				st = step{name: "all:429 persistent (site backoff)", calls: append(reset(), ctl("fault", "endpoint", "all", "fault", "429"))}
			}
			seen[st.name] = true
			for _, c := range st.calls {
				control(c)
			}
			content := token + "\n"
			if st.noToken {
				content = ""
			}
			if err := os.WriteFile(tokenFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := lastBody.Load().(string)
		samples = append(samples, sample{at: time.Since(start), rss: vmKB(t, pid, "VmRSS") << 10, goroutines: metricInt(b, "go_goroutines")})
		select {
		case <-ticker.C:
		case err := <-expDone:
			ticker.Stop()
			wg.Wait()
			t.Fatalf("the exporter exited during the soak: %v\n%s", err, logs.tail())
		}
	}
	ticker.Stop()
	wg.Wait()

	// Quiesce: faults off, then a scrape that must be healthy once the
	// backoff (if any) is over; the goroutine count is read from it.
	for _, c := range reset() {
		control(c)
	}
	var finalBody string
	for range 3 {
		finalBody, _, err = scrapeOnce(client, metricsURL, "")
		if err != nil {
			t.Fatal(err)
		}
	}
	endGoroutines := metricInt(finalBody, "go_goroutines")
	endRSS := vmKB(t, pid, "VmRSS") << 10
	peak := vmKB(t, pid, "VmHWM") << 10

	// Report.
	slices.Sort(slack)
	q := func(p float64) time.Duration { return slack[min(len(slack)-1, int(p*float64(len(slack))))] }
	n := scrapes.Load()
	t.Logf("soak %v: %d scrapes (%.0f/s) by %d scrapers, %d fault steps (%d distinct) every %v",
		*duration, n, float64(n)/time.Since(start).Seconds(), scrapers, len(samples), len(seen), stepEvery)
	t.Logf("scrape time minus deadline: p50 %v, p99 %v, max %v (margin %v)", q(0.5), q(0.99), slack[len(slack)-1], scrapeMargin)
	t.Logf("RSS: %.1f MiB after warm-up, %.1f MiB at the end, peak (VmHWM) %.1f MiB; bounds +%d MiB, %d MiB",
		mib(baseRSS), mib(endRSS), mib(peak), rssGrowth>>20, rssPeak>>20)
	maxG := 0
	for _, s := range samples {
		maxG = max(maxG, s.goroutines)
	}
	t.Logf("goroutines: %d after warm-up, %d at most during the run, %d at the end; bound +%d",
		baseGoroutines, maxG, endGoroutines, goroutineGrowth)
	t.Logf("failures by cause:\n%s", causes(finalBody))
	t.Logf("log lines: %d, token found: %v", logs.lines.Load(), logs.leaked.Load())

	// Verdicts.
	if len(failures) > 0 {
		t.Errorf("%d bad scrapes (%d late), first: %s", len(failures), late.Load(), failures[0])
	}
	if endRSS > baseRSS+rssGrowth {
		t.Errorf("RSS grew from %.1f to %.1f MiB", mib(baseRSS), mib(endRSS))
	}
	if peak > rssPeak {
		t.Errorf("peak RSS %.1f MiB", mib(peak))
	}
	if endGoroutines > baseGoroutines+goroutineGrowth {
		t.Errorf("goroutines grew from %d to %d", baseGoroutines, endGoroutines)
	}
	if logs.leaked.Load() {
		t.Errorf("the token appears in the log: %s", logs.leakLine())
	}
	stopPID(t, pid, expDone, "ativo_exporter")
	if logs.leaked.Load() {
		t.Errorf("the token appears in the log: %s", logs.leakLine())
	}
}

// allowedTime is the deadline the exporter must meet for a header.
func allowedTime(h string) time.Duration {
	secs, err := strconv.ParseFloat(strings.TrimSpace(h), 64)
	d := time.Duration(secs * float64(time.Second))
	if err != nil || d <= timeoutOffset {
		return exporterTimeout
	}
	return min(exporterTimeout, d-timeoutOffset)
}

func scrapeOnce(c *http.Client, u, timeoutHeader string) (string, time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	if timeoutHeader != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeoutHeader)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return "", time.Since(start), fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		return "", elapsed, fmt.Errorf("scrape body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", elapsed, fmt.Errorf("scrape: %s", resp.Status)
	}
	return string(b), elapsed, nil
}

// stopPID sends SIGTERM to pid and expects exit status 0 within 10 s.
func stopPID(t *testing.T, pid int, done chan error, name string) {
	t.Helper()
	select {
	case err := <-done:
		done <- err
		return // already stopped (and reported)
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Errorf("%s: SIGTERM: %v", name, err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", name, err)
		}
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("%s: no exit within 10 s of SIGTERM", name)
	}
}

func vmKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func metricInt(body, name string) int {
	for l := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}

var failureRE = regexp.MustCompile(`^ativo_api_request_failures_total\{cause="([a-z_]+)",endpoint="([a-z]+)"\} (\d+)`)

// causes sums the failure counters by cause.
func causes(body string) string {
	sum := map[string]int{}
	for l := range strings.SplitSeq(body, "\n") {
		if m := failureRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[3])
			sum[m[1]] += n
		}
	}
	var out []string
	for c, n := range sum {
		out = append(out, fmt.Sprintf("  %s: %d", c, n))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// logWatch reads the exporter's log line by line, keeps the last lines
// and looks for the token in every one.
type logWatch struct {
	token  string
	lines  atomic.Int64
	leaked atomic.Bool
	mu     sync.Mutex
	last   []string
	leak   string
}

func newLogWatch(token string) *logWatch { return &logWatch{token: token} }

var listenRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

func (w *logWatch) read(r io.Reader, listening chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		w.lines.Add(1)
		if m := listenRE.FindStringSubmatch(line); m != nil {
			select {
			case listening <- m[1]:
			default:
			}
		}
		w.mu.Lock()
		if strings.Contains(line, w.token) && !w.leaked.Load() {
			w.leaked.Store(true)
			w.leak = line
		}
		w.last = append(w.last, line)
		if len(w.last) > 50 {
			w.last = w.last[1:]
		}
		w.mu.Unlock()
	}
}

func (w *logWatch) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.last, "\n")
}

func (w *logWatch) leakLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.ReplaceAll(w.leak, w.token, "[TOKEN]")
}
