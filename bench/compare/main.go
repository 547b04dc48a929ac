// Command compare measures ativo_exporter side by side with json_exporter
// v0.7.0 configured for the same Ativo API, on the same fake Ativo
// (cmd/fakeativo), and prints one table against the targets of SPEC §9.
// bench/compare.sh builds the three binaries and runs it; see
// bench/README.md.
//
// How each figure is measured:
//   - CPU per scrape: utime+stime from /proc/PID/stat over -scrapes
//     sequential scrapes (after 3 warm-up scrapes), divided by their
//     number, for each exporter scraping a 10k-team index.
//   - upstream requests: 20 scrapes (or probes) started at once while
//     the fake delays every answer by 1 s, so they surely overlap; the
//     fake's /-/fake/requests counts what reached it.
//   - scrape time / slowest endpoint: every collector on (5 endpoints),
//     the fake delays each answer by 1 s; the slowest of 5 scrapes.
//   - peak RSS: VmHWM from /proc/PID/status of a freshly started process
//     after 3 scrapes of a 100k-team /teams, or after 1 scrape of a
//     200 MiB answer (ours refuses it with cause too_large).
//
// Every process is started on loopback, bounded in time, and stopped by
// its PID, also when the run fails or is interrupted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const token = "bench-token-0f9e1c"

var (
	exporterBin = flag.String("exporter", "", "ativo_exporter binary")
	fakeBin     = flag.String("fakeativo", "", "fakeativo binary")
	jsonBin     = flag.String("json-exporter", "", "json_exporter v0.7.0 binary")
	workDir     = flag.String("work-dir", "", "directory for configs and logs (default: a temporary one)")
	scrapes     = flag.Int("scrapes", 100, "scrapes per CPU measurement (at least 40)")
	resultsFile = flag.String("results", "", "also write the table with the machine description to this Markdown file")
	skipJSON    = flag.Bool("skip-json-exporter-oversized", false, "skip json_exporter's 200 MiB run (it buffers the whole answer)")
)

func main() {
	flag.Parse()
	if *exporterBin == "" || *fakeBin == "" || *jsonBin == "" {
		fmt.Fprintln(os.Stderr, "compare: -exporter, -fakeativo and -json-exporter are required")
		os.Exit(2)
	}
	if *scrapes < 40 {
		fmt.Fprintln(os.Stderr, "compare: -scrapes must be at least 40 (SPEC §9)")
		os.Exit(2)
	}
	dir := *workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "ativo-bench-")
		if err != nil {
			fatal(err)
		}
		defer func() { _ = os.RemoveAll(d) }()
		dir = d
	}
	r := &runner{dir: dir}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "compare: %v, stopping\n", s)
		r.stopAll()
		os.Exit(1)
	}()
	err := r.run()
	r.stopAll()
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

type runner struct {
	dir   string
	mu    sync.Mutex
	procs []*proc
	n     int
	rows  []row
}

type row struct {
	what, target, ours, theirs, verdict string
}

func (r *runner) run() error {
	tokenFile := filepath.Join(r.dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	machine := describeMachine()
	fmt.Println(machine)
	fmt.Println()
	steps := []func(string) error{r.cpuIndex, r.simultaneous, r.delayed, r.rssTeams, r.rssOversized}
	for _, step := range steps {
		start := time.Now()
		if err := step(tokenFile); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "compare:   took %.1f s\n", time.Since(start).Seconds())
	}
	table := r.table()
	fmt.Println(table)
	if *resultsFile != "" {
		doc := "## Run of " + time.Now().UTC().Format("2006-01-02 15:04 MST") + "\n\n" + machine + "\n\n" + table + "\n"
		if err := os.WriteFile(*resultsFile, []byte(doc), 0o644); err != nil {
			return err
		}
	}
	for _, rw := range r.rows {
		if rw.verdict != "met" {
			fmt.Fprintln(os.Stderr, "compare: target not met:", rw.what)
		}
	}
	return nil
}

func (r *runner) table() string {
	var b strings.Builder
	b.WriteString("| what | target | ativo_exporter | json_exporter v0.7.0 | |\n|---|---|---|---|---|\n")
	for _, rw := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(rw.what), cell(rw.target), cell(rw.ours), cell(rw.theirs), cell(rw.verdict))
	}
	return strings.TrimRight(b.String(), "\n")
}

// cell keeps a table cell on one line and its bars escaped.
func cell(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", "\\|")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**NOT MET**"
}

func describeMachine() string {
	cpu := "unknown CPU"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(f), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if f, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(f), "\n"); ok {
			mem = strings.Join(strings.Fields(strings.TrimPrefix(l, "MemTotal:")), " ")
		}
	}
	load := ""
	if f, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(f))[:3], " ")
	}
	kernel := ""
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kernel = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("Machine: %s, %d CPUs (runtime.NumCPU), %s RAM, %s, %s/%s. Load average at start: %s.",
		cpu, runtime.NumCPU(), mem, kernel, runtime.GOOS, runtime.GOARCH, load)
}

// ---- processes ----

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (r *runner) start(name string, env []string, bin string, args ...string) (*proc, error) {
	r.mu.Lock()
	r.n++
	logName := filepath.Join(r.dir, fmt.Sprintf("%02d-%s.log", r.n, name))
	r.mu.Unlock()
	logFile, err := os.Create(logName)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logName, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process by its PID: SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

func (r *runner) stopAll() {
	r.mu.Lock()
	procs := slices.Clone(r.procs)
	r.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
}

func (p *proc) exited() error {
	select {
	case <-p.done:
		log, _ := os.ReadFile(p.log)
		return fmt.Errorf("%s exited (%w):\n%s", p.name, p.err, tail(string(log), 2000))
	default:
		return nil
	}
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, the process exits or 20 s pass.
func waitHTTP(p *proc, u string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not answering after 20 s", p.name, u)
		}
		time.Sleep(50 * time.Millisecond) // polling a process that is starting
	}
}

// startFake starts cmd/fakeativo and returns it with its base URL.
func (r *runner) startFake(tokenFile string, teams int) (*proc, string, error) {
	addrFile := filepath.Join(r.dir, fmt.Sprintf("fake-%d.addr", time.Now().UnixNano()))
	args := []string{"--listen", "127.0.0.1:0", "--token-file", tokenFile, "--address-file", addrFile}
	if teams > 0 {
		args = append(args, "--teams", strconv.Itoa(teams))
	}
	p, err := r.start("fakeativo", nil, *fakeBin, args...)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			return p, strings.TrimSpace(string(b)), nil
		}
		if err := p.exited(); err != nil {
			return nil, "", err
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", errors.New("fakeativo wrote no address in 20 s")
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is starting
	}
}

func control(fakeURL, action string, q url.Values) error {
	resp, err := http.Post(fakeURL+"/-/fake/"+action+"?"+q.Encode(), "", nil)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("fake control %s: %s: %s", action, resp.Status, b)
	}
	return nil
}

func fakeRequests(fakeURL string) (map[string]int, error) {
	resp, err := http.Get(fakeURL + "/-/fake/requests")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]int{}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// startOurs starts ativo_exporter against the fake with extra flags.
func (r *runner) startOurs(fakeURL, tokenFile string, flags ...string) (*proc, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := append([]string{
		"--web.listen-address=" + addr, "--ativo.url=" + fakeURL, "--ativo.platform=cloud",
		"--ativo.token-file=" + tokenFile, "--ativo.timeout=60s",
	}, flags...)
	p, err := r.start("ativo_exporter", nil, *exporterBin, args...)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitHTTP(p, base+"/-/healthy"); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base + "/metrics", nil
}

// json_exporter modules: what a user would write to get the same counts.
// JSONPath has no length(), so every item becomes one series (summed in
// PromQL); for /teams the labels carry the enum fields.
const jsonConfig = `modules:
  index:
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: %[1]s
    metrics:
    - name: ativo_team
      type: object
      help: One series per item of an Ativo index; count with sum().
      path: '{ [*] }'
      labels:
        id: '{ .id }'
      values:
        present: 1
  teams:
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: %[1]s
    metrics:
    - name: ativo_team_configuration
      type: object
      help: One series per team configuration; count with sum by (type, mode, estimation, archived).
      path: '{ [*] }'
      labels:
        id: '{ .id }'
        type: '{ .type }'
        mode: '{ .mode }'
        estimation: '{ .estimation }'
        archived: '{ .isArchived }'
      values:
        present: 1
  archived:
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: %[1]s
    metrics:
    - name: ativo_item
      type: object
      help: One series per program or period.
      path: '{ [*] }'
      labels:
        id: '{ .id }'
        archived: '{ .isArchived }'
      values:
        present: 1
  version:
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: %[1]s
    metrics:
    - name: ativo_api_model_version
      help: Data model version.
      path: '{ @ }'
`

func (r *runner) startJSON(tokenFile string) (*proc, string, error) {
	cfg := filepath.Join(r.dir, "json_exporter.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(jsonConfig, tokenFile)), 0o644); err != nil {
		return nil, "", err
	}
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := r.start("json_exporter", nil, *jsonBin, "--config.file="+cfg, "--web.listen-address="+addr)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitHTTP(p, base+"/metrics"); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base, nil
}

func probeURL(base, module, target string) string {
	return base + "/probe?" + url.Values{"module": {module}, "target": {target}}.Encode()
}

var client = &http.Client{Timeout: 5 * time.Minute}

// scrape GETs u with Prometheus' timeout header and returns the body and
// the wall time.
func scrape(u string) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "120")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), elapsed, fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(head(string(b), 300)))
	}
	return string(b), elapsed, nil
}

// cpuTicks reads utime+stime (clock ticks) of pid.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return ut + st, nil
}

func clockTick() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return time.Second / time.Duration(n)
		}
	}
	return 10 * time.Millisecond
}

// vmHWM reads the peak resident set size of pid in bytes.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM")
}

// cpuPerScrape measures the CPU time of p per GET of u.
func cpuPerScrape(p *proc, u string, check func(string) error) (time.Duration, error) {
	for range 3 {
		body, _, err := scrape(u)
		if err != nil {
			return 0, err
		}
		if err := check(body); err != nil {
			return 0, err
		}
	}
	before, err := cpuTicks(p.pid())
	if err != nil {
		return 0, err
	}
	for range *scrapes {
		if _, _, err := scrape(u); err != nil {
			return 0, err
		}
	}
	after, err := cpuTicks(p.pid())
	if err != nil {
		return 0, err
	}
	return time.Duration(after-before) * clockTick() / time.Duration(*scrapes), nil
}

func wantLine(line string) func(string) error {
	return func(body string) error {
		if slices.Contains(strings.Split(body, "\n"), line) {
			return nil
		}
		return fmt.Errorf("answer lacks %q:\n%s", line, tail(body, 1500))
	}
}

func wantSeries(prefix string, n int) func(string) error {
	return func(body string) error {
		got := 0
		for l := range strings.SplitSeq(body, "\n") {
			if strings.HasPrefix(l, prefix) {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d series %s…, want %d:\n%s", got, prefix, n, tail(body, 1500))
		}
		return nil
	}
}

// bodySize returns the length of the fake's answer at u.
func bodySize(u string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func mib(n int64) string        { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ---- the five measurements ----

func (r *runner) cpuIndex(tokenFile string) error {
	fmt.Fprintln(os.Stderr, "compare: CPU per scrape of a 10k-team index")
	fake, fakeURL, err := r.startFake(tokenFile, 10_000)
	if err != nil {
		return err
	}
	defer fake.stop()
	ours, metrics, err := r.startOurs(fakeURL, tokenFile, "--no-collector.version")
	if err != nil {
		return err
	}
	oursCPU, err := cpuPerScrape(ours, metrics, wantLine("ativo_teams 10000"))
	ours.stop()
	if err != nil {
		return fmt.Errorf("ativo_exporter: %w", err)
	}
	je, base, err := r.startJSON(tokenFile)
	if err != nil {
		return err
	}
	theirCPU, err := cpuPerScrape(je, probeURL(base, "index", fakeURL+"/rest/api/1/team"), wantSeries("ativo_team_present{", 10_000))
	je.stop()
	if err != nil {
		return fmt.Errorf("json_exporter: %w", err)
	}
	ratio := float64(oursCPU) / float64(theirCPU)
	r.rows = append(r.rows, row{
		what:    fmt.Sprintf("CPU per scrape of a 10k-team index (%d scrapes), ours / json_exporter", *scrapes),
		target:  "≤ 0.10",
		ours:    fmt.Sprintf("**%.3f** (%s per scrape)", ratio, ms(oursCPU)),
		theirs:  fmt.Sprintf("1 (%s per scrape)", ms(theirCPU)),
		verdict: verdict(ratio <= 0.10),
	})
	return nil
}

// concurrent fires n GETs of u at once and returns the first error.
func concurrent(n int, u string) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, _, errs[i] = scrape(u)
		})
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (r *runner) simultaneous(tokenFile string) error {
	fmt.Fprintln(os.Stderr, "compare: upstream requests of 20 simultaneous scrapes")
	fake, fakeURL, err := r.startFake(tokenFile, 0)
	if err != nil {
		return err
	}
	defer fake.stop()
	if err := control(fakeURL, "delay", url.Values{"endpoint": {"all"}, "duration": {"1s"}}); err != nil {
		return err
	}
	ours, metrics, err := r.startOurs(fakeURL, tokenFile)
	if err != nil {
		return err
	}
	err = concurrent(20, metrics)
	ours.stop()
	if err != nil {
		return fmt.Errorf("ativo_exporter: %w", err)
	}
	oursCounts, err := fakeRequests(fakeURL)
	if err != nil {
		return err
	}
	je, base, err := r.startJSON(tokenFile)
	if err != nil {
		return err
	}
	err = concurrent(20, probeURL(base, "index", fakeURL+"/rest/api/1/team"))
	je.stop()
	if err != nil {
		return fmt.Errorf("json_exporter: %w", err)
	}
	all, err := fakeRequests(fakeURL)
	if err != nil {
		return err
	}
	theirs := map[string]int{}
	for k, v := range all {
		if d := v - oursCounts[k]; d > 0 {
			theirs[k] = d
		}
	}
	ok := len(oursCounts) == 2
	for _, v := range oursCounts {
		ok = ok && v == 1
	}
	r.rows = append(r.rows, row{
		what:    "upstream requests caused by 20 simultaneous scrapes (default collectors: team index and version)",
		target:  "1 per endpoint",
		ours:    "**" + formatCounts(oursCounts) + "**",
		theirs:  formatCounts(theirs) + " (index module only)",
		verdict: verdict(ok),
	})
	return nil
}

func (r *runner) delayed(tokenFile string) error {
	fmt.Fprintln(os.Stderr, "compare: scrape time with 5 endpoints each delayed 1 s")
	fake, fakeURL, err := r.startFake(tokenFile, 0)
	if err != nil {
		return err
	}
	defer fake.stop()
	const delay = time.Second
	if err := control(fakeURL, "delay", url.Values{"endpoint": {"all"}, "duration": {delay.String()}}); err != nil {
		return err
	}
	ours, metrics, err := r.startOurs(fakeURL, tokenFile,
		"--collector.team-configurations", "--collector.programs", "--collector.periods")
	if err != nil {
		return err
	}
	var worst time.Duration
	for range 5 {
		body, d, err := scrape(metrics)
		if err == nil {
			err = wantLine("ativo_up 1")(body)
		}
		if err != nil {
			ours.stop()
			return fmt.Errorf("ativo_exporter: %w", err)
		}
		worst = max(worst, d)
	}
	ours.stop()
	je, base, err := r.startJSON(tokenFile)
	if err != nil {
		return err
	}
	// json_exporter answers one endpoint per probe; Prometheus would
	// run the five probes as five targets at once.
	probes := map[string]string{
		"/team": "index", "/teams": "teams", "/programs": "archived", "/periods": "archived", "/meta/model/version": "version",
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tWorst time.Duration
		errs   []error
	)
	for path, module := range probes {
		wg.Go(func() {
			_, d, err := scrape(probeURL(base, module, fakeURL+"/rest/api/1"+path))
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
			tWorst = max(tWorst, d)
		})
	}
	wg.Wait()
	je.stop()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("json_exporter: %w", err)
	}
	ratio := float64(worst) / float64(delay)
	r.rows = append(r.rows, row{
		what:    "scrape time / slowest endpoint, 5 endpoints each delayed 1 s (slowest of 5 scrapes)",
		target:  "≤ 1.10",
		ours:    fmt.Sprintf("**%.3f** (%s)", ratio, ms(worst)),
		theirs:  fmt.Sprintf("%.3f per probe, one endpoint per probe (5 probes at once)", float64(tWorst)/float64(delay)),
		verdict: verdict(ratio <= 1.10),
	})
	return nil
}

func (r *runner) rssTeams(tokenFile string) error {
	fmt.Fprintln(os.Stderr, "compare: peak RSS serving a 100k-team /teams")
	fake, fakeURL, err := r.startFake(tokenFile, 100_000)
	if err != nil {
		return err
	}
	defer fake.stop()
	size, err := bodySize(fakeURL + "/rest/api/1/teams")
	if err != nil {
		return err
	}
	ours, metrics, err := r.startOurs(fakeURL, tokenFile, "--collector.team-configurations")
	if err != nil {
		return err
	}
	for range 3 {
		body, _, err := scrape(metrics)
		if err == nil {
			err = wantLine("ativo_teams 100000")(body)
		}
		if err != nil {
			ours.stop()
			return fmt.Errorf("ativo_exporter: %w", err)
		}
	}
	oursRSS, err := vmHWM(ours.pid())
	ours.stop()
	if err != nil {
		return err
	}
	je, base, err := r.startJSON(tokenFile)
	if err != nil {
		return err
	}
	for range 3 {
		body, _, err := scrape(probeURL(base, "teams", fakeURL+"/rest/api/1/teams"))
		if err == nil {
			err = wantSeries("ativo_team_configuration_present{", 100_000)(body)
		}
		if err != nil {
			je.stop()
			return fmt.Errorf("json_exporter: %w", err)
		}
	}
	theirRSS, err := vmHWM(je.pid())
	je.stop()
	if err != nil {
		return err
	}
	r.rows = append(r.rows, row{
		what:    fmt.Sprintf("peak RSS (VmHWM) serving a 100k-team /teams (%.1f MB of JSON), 3 scrapes", float64(size)/1e6),
		target:  "≤ 32 MiB",
		ours:    "**" + mib(oursRSS) + "**",
		theirs:  mib(theirRSS),
		verdict: verdict(oursRSS <= 32<<20),
	})
	return nil
}

func (r *runner) rssOversized(tokenFile string) error {
	fmt.Fprintln(os.Stderr, "compare: peak RSS when the answer is 200 MiB")
	fake, fakeURL, err := r.startFake(tokenFile, 0)
	if err != nil {
		return err
	}
	defer fake.stop()
	if err := control(fakeURL, "fault", url.Values{"endpoint": {"team"}, "fault": {"oversized"}}); err != nil {
		return err
	}
	ours, metrics, err := r.startOurs(fakeURL, tokenFile)
	if err != nil {
		return err
	}
	body, _, err := scrape(metrics)
	if err == nil {
		err = wantLine(`ativo_api_request_failures_total{cause="too_large",endpoint="team"} 1`)(body)
	}
	if err != nil {
		ours.stop()
		return fmt.Errorf("ativo_exporter: %w", err)
	}
	oursRSS, err := vmHWM(ours.pid())
	ours.stop()
	if err != nil {
		return err
	}
	theirs := "skipped"
	if !*skipJSON {
		je, base, err := r.startJSON(tokenFile)
		if err != nil {
			return err
		}
		_, d, err := scrape(probeURL(base, "index", fakeURL+"/rest/api/1/team"))
		theirRSS, rerr := vmHWM(je.pid())
		je.stop()
		if rerr != nil {
			return rerr
		}
		theirs = fmt.Sprintf("%s (reads it all; probe took %.1f s)", mib(theirRSS), d.Seconds())
		if err != nil {
			msg, _, _ := strings.Cut(err.Error(), "\n")
			if strings.Contains(err.Error(), "collected before with the same name and label values") {
				msg = "duplicate series"
			}
			theirs = fmt.Sprintf("%s (reads it all; the probe fails after %.1f s: %.70s)", mib(theirRSS), d.Seconds(), msg)
		}
	}
	r.rows = append(r.rows, row{
		what:    "peak RSS (VmHWM) when the answer is 200 MiB (refused as too_large at --ativo.max-response-size 64MiB)",
		target:  "≤ 40 MiB",
		ours:    "**" + mib(oursRSS) + "**",
		theirs:  theirs,
		verdict: verdict(oursRSS <= 40<<20),
	})
	return nil
}
