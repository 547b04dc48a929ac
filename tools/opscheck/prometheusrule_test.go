package opscheck

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite generated files (deploy/kubernetes/prometheusrule.yaml)")

const (
	alertsFile         = "deploy/prometheus/alerts.yml"
	prometheusRuleFile = "deploy/kubernetes/prometheusrule.yaml"
)

const prometheusRuleHeader = `# Generated from deploy/prometheus/alerts.yml: edit that file, then run
#   (cd tools && go test ./opscheck -run TestPrometheusRuleMatchesAlerts -update)
# tools/opscheck fails while the two differ.
#
# Your Prometheus' ruleSelector may require an extra label here
# (kube-prometheus-stack: release: <helm release name>).
`

// TestPrometheusRuleMatchesAlerts keeps the PrometheusRule's groups identical to
// deploy/prometheus/alerts.yml.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	src := readRepoFile(t, alertsFile)
	if *update {
		writePrometheusRule(t, src)
	}
	var alerts struct {
		Groups any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(src, &alerts); err != nil {
		t.Fatal(err)
	}
	var rule struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, prometheusRuleFile), &rule); err != nil {
		t.Fatal(err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
		t.Errorf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, rule.APIVersion, rule.Kind)
	}
	if alerts.Groups == nil {
		t.Fatalf("%s has no groups", alertsFile)
	}
	if !reflect.DeepEqual(alerts.Groups, rule.Spec.Groups) {
		t.Errorf("the groups of %s differ from %s; regenerate with -update", prometheusRuleFile, alertsFile)
	}
}

func writePrometheusRule(t *testing.T, src []byte) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var groups *yaml.Node
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "groups" {
			groups = top.Content[i+1]
		}
	}
	if groups == nil {
		t.Fatalf("%s has no groups", alertsFile)
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	mapping := func(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }
	out := mapping(
		str("apiVersion"), str("monitoring.coreos.com/v1"),
		str("kind"), str("PrometheusRule"),
		str("metadata"), mapping(
			str("name"), str("ativo-exporter"),
			str("labels"), mapping(str("app.kubernetes.io/name"), str("ativo-exporter")),
		),
		str("spec"), mapping(str("groups"), groups),
	)
	var buf bytes.Buffer
	buf.WriteString(prometheusRuleHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repoRoot(t), prometheusRuleFile), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
