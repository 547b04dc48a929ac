package opscheck

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// TestComposeQuickStart loads deploy/compose/compose.yaml with compose-go (the loader and
// schema validation of `docker compose`) and checks how the services are wired.
func TestComposeQuickStart(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "deploy", "compose")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv([]string{}), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}

	exp, err := p.GetService("ativo-exporter")
	if err != nil {
		t.Fatal(err)
	}
	if exp.Build == nil || filepath.Clean(exp.Build.Context) != root {
		t.Errorf("ativo-exporter builds from %v, want the repository root %s", exp.Build, root)
	}
	if exp.Build != nil && exp.Build.Dockerfile != "" && exp.Build.Dockerfile != "Dockerfile" {
		t.Errorf("ativo-exporter builds with %s, want the repository's Dockerfile", exp.Build.Dockerfile)
	}
	if !slices.Contains([]string(exp.Command), "--demo") {
		t.Errorf("ativo-exporter command %v lacks --demo", exp.Command)
	}
	assertPort(t, exp, 9721)
	if !exp.ReadOnly || !slices.Contains(exp.CapDrop, "ALL") {
		t.Errorf("ativo-exporter should be read_only with cap_drop ALL")
	}

	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	assertPort(t, prom, 9090)
	if _, ok := prom.DependsOn["ativo-exporter"]; !ok {
		t.Error("prometheus does not depend on ativo-exporter")
	}
	mounts := map[string]string{} // container path -> host path
	for _, v := range prom.Volumes {
		if v.Type == types.VolumeTypeBind {
			mounts[v.Target] = v.Source
			if !v.ReadOnly {
				t.Errorf("prometheus mounts %s read-write", v.Source)
			}
		}
	}
	cfgHost, ok := mounts["/etc/prometheus/prometheus.yml"]
	if !ok {
		t.Fatalf("prometheus does not mount its configuration: %v", mounts)
	}
	if !slices.Contains([]string(prom.Command), "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command %v does not load /etc/prometheus/prometheus.yml", prom.Command)
	}

	// The mounted configuration scrapes the exporter by its service name and loads the
	// shipped rules through the rules mount.
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err := os.ReadFile(cfgHost)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !slices.Contains(targets, "ativo-exporter:9721") {
		t.Errorf("compose prometheus.yml scrapes %v, want ativo-exporter:9721", targets)
	}
	shipped := filepath.Join(root, "deploy", "prometheus", "alerts.yml")
	found := false
	for _, rf := range cfg.RuleFiles {
		for target, src := range mounts {
			if rel, ok := strings.CutPrefix(rf, target+"/"); ok && filepath.Join(src, rel) == shipped {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("compose prometheus.yml rule_files %v do not reach %s through a mount of %v", cfg.RuleFiles, shipped, mounts)
	}
}

func assertPort(t *testing.T, s types.ServiceConfig, port uint32) {
	t.Helper()
	for _, p := range s.Ports {
		if p.Target == port {
			if p.Published != "" && p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q; want 127.0.0.1 only", s.Name, port, p.HostIP)
			}
			return
		}
	}
	t.Errorf("%s does not publish port %d", s.Name, port)
}
