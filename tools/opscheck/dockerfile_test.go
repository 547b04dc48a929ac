package opscheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const (
	defaultPort    = "9721"
	finalBaseImage = "gcr.io/distroless/static-debian12:nonroot"
	versionPkg     = "github.com/prometheus/common/version"
)

// dockerfile is the parsed Dockerfile of the repository.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	warnings []string
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(readRepoFile(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	var df dockerfile
	for _, w := range res.Warnings {
		df.warnings = append(df.warnings, w.Short)
	}
	// buildkit's own build checks (the ones `docker build --check` runs).
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		df.warnings = append(df.warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	df.stages, df.metaArgs, err = instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	return df
}

func TestDockerfileHasNoBuildCheckWarnings(t *testing.T) {
	df := parseDockerfile(t)
	for _, w := range df.warnings {
		t.Error(w)
	}
}

func TestDockerfileProperties(t *testing.T) {
	df := parseDockerfile(t)
	if len(df.stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(df.stages))
	}
	build, final := df.stages[0], df.stages[len(df.stages)-1]

	// The builder runs the Go release the Makefile builds and tests with.
	if want := "golang:" + strings.TrimPrefix(makefileToolchain(t), "go"); build.BaseName != want {
		t.Errorf("build stage FROM %q, want %s (the Makefile's GOTOOLCHAIN)", build.BaseName, want)
	}
	if final.BaseName != finalBaseImage {
		t.Errorf("final stage FROM %q, want %s", final.BaseName, finalBaseImage)
	}

	run := buildRun(t, build)
	for _, want := range []string{
		"CGO_ENABLED=0",
		"go build -trimpath",
		"-X " + versionPkg + ".Version=${VERSION}",
		"-X " + versionPkg + ".Revision=${REVISION}",
		"-X " + versionPkg + ".Branch=${BRANCH}",
		"-X " + versionPkg + ".BuildUser=${BUILD_USER}",
		"-X " + versionPkg + ".BuildDate=",
		"-o /out/ativo_exporter .",
	} {
		if !strings.Contains(run, want) {
			t.Errorf("build RUN lacks %q:\n%s", want, run)
		}
	}
	args := map[string]bool{}
	for _, c := range build.Commands {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				args[kv.Key] = true
			}
		}
	}
	for _, a := range []string{"VERSION", "REVISION", "BRANCH"} {
		if !args[a] {
			t.Errorf("build stage has no ARG %s", a)
		}
	}

	var (
		users, exposes []string
		entrypoint     *instructions.EntrypointCommand
		copied         bool
		labels         = map[string]string{}
	)
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			users = append(users, c.User)
		case *instructions.ExposeCommand:
			exposes = append(exposes, c.Ports...)
		case *instructions.EntrypointCommand:
			entrypoint = c
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				labels[kv.Key] = kv.Value
			}
		case *instructions.CopyCommand:
			if c.From == build.Name && slices.Contains(c.SourcePaths, "/out/ativo_exporter") && c.DestPath == "/bin/ativo_exporter" {
				copied = true
			}
		case *instructions.RunCommand:
			t.Errorf("final stage has a RUN (%v); distroless has no shell", c.CmdLine)
		}
	}
	if !copied {
		t.Errorf("final stage does not COPY --from=%s /out/ativo_exporter /bin/ativo_exporter", build.Name)
	}
	if len(users) == 0 {
		t.Error("final stage has no USER")
	} else if u := users[len(users)-1]; u != "65532:65532" {
		t.Errorf("final USER %q, want the numeric non-root 65532:65532", u)
	}
	if !slices.Equal(exposes, []string{defaultPort}) {
		t.Errorf("EXPOSE %v, want [%s] (the default listen port)", exposes, defaultPort)
	}
	if entrypoint == nil {
		t.Fatal("final stage has no ENTRYPOINT")
	}
	if entrypoint.PrependShell {
		t.Errorf("ENTRYPOINT is in shell form; want exec form")
	}
	if !slices.Equal(entrypoint.CmdLine, []string{"/bin/ativo_exporter"}) {
		t.Errorf("ENTRYPOINT %v, want [/bin/ativo_exporter]", entrypoint.CmdLine)
	}
	for _, l := range []string{"title", "description", "source", "url", "documentation", "version", "revision"} {
		if labels["org.opencontainers.image."+l] == "" {
			t.Errorf("final stage lacks LABEL org.opencontainers.image.%s", l)
		}
	}
}

// TestDockerfileLdflagsMatchMakefile: the image is stamped with the same version variables
// as `make build`.
func TestDockerfileLdflagsMatchMakefile(t *testing.T) {
	run := buildRun(t, parseDockerfile(t).stages[0])
	re := regexp.MustCompile(`-X (?:` + regexp.QuoteMeta(versionPkg) + `|\$\(VERSION_PKG\))\.(\w+)=`)
	vars := func(s string) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	mk := vars(string(readRepoFile(t, "Makefile")))
	if len(mk) == 0 {
		t.Fatal("no -X version flags found in the Makefile")
	}
	if df := vars(run); !slices.Equal(df, mk) {
		t.Errorf("Dockerfile sets version variables %v, Makefile %v", df, mk)
	}
}

// buildRun returns the build stage's RUN that runs `go build`.
func buildRun(t *testing.T, s instructions.Stage) string {
	t.Helper()
	var found []string
	for _, c := range s.Commands {
		if r, ok := c.(*instructions.RunCommand); ok && r.PrependShell {
			cmd := strings.Join(r.CmdLine, " ")
			if strings.Contains(cmd, "go build") {
				found = append(found, cmd)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one shell-form RUN with go build in stage %q, got %d", s.Name, len(found))
	}
	return found[0]
}

// TestDockerignoreKeepsSources: the build context must still hold every package of the
// exporter's module, go.mod and go.sum.
func TestDockerignoreKeepsSources(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"go.mod", "go.sum", "main.go", ".git/HEAD", "tools/go.mod"} {
		ignored, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		want := p == ".git/HEAD" || p == "tools/go.mod"
		if ignored != want {
			t.Errorf(".dockerignore: %s ignored=%v, want %v", p, ignored, want)
		}
	}
	for _, dir := range rootModulePackageDirs(t, root) {
		rel, _ := filepath.Rel(root, dir)
		if rel == "." {
			continue
		}
		ignored, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel) + "/x.go")
		if err != nil {
			t.Fatal(err)
		}
		if ignored {
			t.Errorf(".dockerignore excludes package directory %s, which the build needs", rel)
		}
	}
}

// makefileToolchain returns the GOTOOLCHAIN the Makefile sets (go1.X.Y).
func makefileToolchain(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^GOTOOLCHAIN \?= (go1\.\d+\.\d+)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("the Makefile sets no GOTOOLCHAIN ?= go1.X.Y")
	}
	return string(m[1])
}
