package dashboards_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ativo-exporter/ativo_exporter/collector"
)

// histograms are the families exposed as _bucket, _sum and _count series.
var histograms = []string{"ativo_api_request_duration_seconds"}

// emitted returns every series name the exporter's own ativo_* metrics can have.
func emitted(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, n := range collector.MetricNames() {
		names[n] = true
	}
	for _, h := range histograms {
		if !names[h] {
			t.Fatalf("histogram %s is not in collector.MetricNames()", h)
		}
		delete(names, h)
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[h+s] = true
		}
	}
	return names
}

// TestPanelQueriesUseExporterMetrics: every metric named in a panel query or a variable query
// is one that the exporter emits, so no panel stays empty because of a renamed metric.
func TestPanelQueriesUseExporterMetrics(t *testing.T) {
	known := emitted(t)
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			exprs := queries(t, f)
			if len(exprs) == 0 {
				t.Fatal("no queries found")
			}
			for _, e := range exprs {
				names := MetricNamesIn(e)
				if len(names) == 0 {
					t.Errorf("no metric found in %q", e)
				}
				for _, n := range names {
					if !known[n] {
						t.Errorf("%q uses %s, which the exporter does not emit", e, n)
					}
				}
			}
		})
	}
}

// queries returns the PromQL of every panel target and of every query variable.
func queries(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			out = append(out, q)
		}
	}
	return out
}

type panel struct {
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	reMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reGrafana  = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	reNumber   = regexp.MustCompile(`\b\d[\w.]*`) // numbers and durations
)

// keywords of PromQL that look like identifiers but name no metric.
var keywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on",
	"ignoring", "group_left", "group_right", "inf", "nan", "atan2"}

// MetricNamesIn returns the metric names a PromQL expression (or a Grafana label_values()
// query) selects: identifiers that are neither functions, keywords, label names nor
// Grafana variables.
func MetricNamesIn(expr string) []string {
	s := reGrafana.ReplaceAllString(expr, " ")
	s = reString.ReplaceAllString(s, `""`)
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	// label_values(metric, label): the second argument is a label name.
	s = regexp.MustCompile(`label_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*\w+\s*\)`).ReplaceAllString(s, "$1")
	s = reNumber.ReplaceAllString(s, " ")
	var names []string
	for _, m := range reIdent.FindAllStringSubmatch(s, -1) {
		id := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[0]), "("))
		if m[1] != "" || slices.Contains(keywords, strings.ToLower(id)) {
			continue // a function call or a keyword
		}
		if !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}

func TestMetricNamesIn(t *testing.T) {
	for expr, want := range map[string][]string{
		`ativo_up{instance=~"$instance"}`:                                                                                 {"ativo_up"},
		`label_values(ativo_up, instance)`:                                                                                {"ativo_up"},
		`time() - ativo_last_success_timestamp_seconds{instance=~"$instance"}`:                                            {"ativo_last_success_timestamp_seconds"},
		`sum by (endpoint, code) (rate(ativo_api_requests_total{a="b"}[$__rate_interval]))`:                               {"ativo_api_requests_total"},
		`histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m]))) / on(job) group_left(site) y > 0.5 unless z offset 1h`: {"x_bucket", "y", "z"},
		`a == 0 unless on(job, instance, site) (b > 0 or c == 0)`:                                                         {"a", "b", "c"},
		`label_join(ativo_teams{instance=~"$instance", site=~"$site"}, "target", " ", "instance", "site")`:                {"ativo_teams"},
		`label_values(ativo_up, site)`:                                                                                    {"ativo_up"},
	} {
		if got := MetricNamesIn(expr); !slices.Equal(got, want) {
			t.Errorf("MetricNamesIn(%q) = %v, want %v", expr, got, want)
		}
	}
}
