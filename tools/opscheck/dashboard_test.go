package opscheck

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Panel types that ship with Grafana (no plugin to install).
var corePanelTypes = []string{
	"alertlist", "annolist", "barchart", "bargauge", "candlestick", "canvas", "dashlist",
	"datagrid", "flamegraph", "gauge", "geomap", "heatmap", "histogram", "logs", "news",
	"nodeGraph", "piechart", "row", "stat", "state-timeline", "status-history", "table",
	"text", "timeseries", "traces", "trend", "xychart",
}

const dsRef = "${datasource}"

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards found: %v", err)
	}
	return files
}

// TestDashboardsStrict validates each dashboard with grafana-foundation-sdk: unknown fields,
// wrong types and invalid panel options of the core panel plugins are errors.
func TestDashboardsStrict(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, f := range dashboardFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw := readRepoFile(t, mustRel(t, f))
			// The classic JSON model is what Grafana imports from a file; v2 is another format.
			var d dashboard.Dashboard //nolint:staticcheck // see above
			if err := d.UnmarshalJSONStrict(raw); !isNoBuildErrors(err) {
				t.Fatalf("strict unmarshal: %v", err)
			}
			if err := d.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

// isNoBuildErrors: UnmarshalJSONStrict returns a typed-nil cog.BuildErrors on success.
func isNoBuildErrors(err error) bool {
	if err == nil {
		return true
	}
	var be cog.BuildErrors
	return errors.As(err, &be) && len(be) == 0
}

func mustRel(t *testing.T, f string) string {
	t.Helper()
	rel, err := filepath.Rel(repoRoot(t), f)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestDashboardsImportAnywhere: what the SDK does not check, and what makes a dashboard import
// into any Grafana with any Prometheus data source name.
func TestDashboardsImportAnywhere(t *testing.T) {
	for _, f := range dashboardFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw := readRepoFile(t, mustRel(t, f))
			var d struct {
				UID        string                    `json:"uid"`
				Title      string                    `json:"title"`
				Inputs     json.RawMessage           `json:"__inputs"`
				Requires   json.RawMessage           `json:"__requires"`
				Templating struct{ List []variable } `json:"templating"`
				Panels     []panel                   `json:"panels"`
			}
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			if d.UID == "" || len(d.UID) > 40 || !regexp.MustCompile(`^[a-zA-Z0-9_-]+$`).MatchString(d.UID) {
				t.Errorf("uid %q: want 1-40 characters of [a-zA-Z0-9_-]", d.UID)
			}
			if d.Title == "" {
				t.Error("no title")
			}
			if d.Inputs != nil || d.Requires != nil {
				t.Error("__inputs/__requires (Grafana export extras) tie the dashboard to one data source")
			}

			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
			}
			if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || ds.Query != "prometheus" {
				t.Errorf("want a datasource variable of type datasource with query prometheus, got %+v", ds)
			}
			inst, ok := vars["instance"]
			if !ok || inst.Type != "query" || inst.Query != "label_values(ativo_up, instance)" {
				t.Errorf("want an instance variable with label_values(ativo_up, instance), got %+v", inst)
			} else if inst.Datasource == nil || inst.Datasource.UID != dsRef {
				t.Errorf("instance variable does not query %s", dsRef)
			}
			// The site selector (many sites on one exporter through /probe). Its All value must
			// be .* so that single-site series, which have no site label, still match.
			site, ok := vars["site"]
			switch {
			case !ok || site.Type != "query" || site.Query != "label_values(ativo_up, site)":
				t.Errorf("want a site variable with label_values(ativo_up, site), got %+v", site)
			case site.Datasource == nil || site.Datasource.UID != dsRef:
				t.Errorf("site variable does not query %s", dsRef)
			case !site.Multi || !site.IncludeAll || site.AllValue != ".*":
				t.Errorf("site variable: want multi, includeAll and allValue .*, got %+v", site)
			}

			ids := map[int]bool{}
			for _, p := range flatten(d.Panels) {
				name := p.Title
				if ids[p.ID] {
					t.Errorf("panel %q: duplicate id %d", name, p.ID)
				}
				ids[p.ID] = true
				if !slices.Contains(corePanelTypes, p.Type) {
					t.Errorf("panel %q: type %q is not a core Grafana panel", name, p.Type)
				}
				if p.Type == "row" {
					continue
				}
				if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: bad gridPos %+v", name, p.GridPos)
				}
				if p.Datasource == nil || p.Datasource.UID != dsRef || p.Datasource.Type != "prometheus" {
					t.Errorf("panel %q: datasource %+v, want {prometheus %s}", name, p.Datasource, dsRef)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q: no queries", name)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
						t.Errorf("panel %q: target without expr or refId: %+v", name, tg)
					}
					if refs[tg.RefID] {
						t.Errorf("panel %q: duplicate refId %s", name, tg.RefID)
					}
					refs[tg.RefID] = true
					if tg.Datasource == nil || tg.Datasource.UID != dsRef {
						t.Errorf("panel %q: target %s does not use %s", name, tg.RefID, dsRef)
					}
					selectors := reSelector.FindAllString(tg.Expr, -1)
					if len(selectors) == 0 {
						t.Errorf("panel %q: target %s has no label matchers: %s", name, tg.RefID, tg.Expr)
					}
					for _, sel := range selectors {
						if !strings.Contains(sel, `instance=~"$instance"`) {
							t.Errorf("panel %q: target %s: %s ignores the instance variable", name, tg.RefID, sel)
						}
						if !reSiteMatcher.MatchString(sel) {
							t.Errorf("panel %q: target %s: %s ignores the site variable", name, tg.RefID, sel)
						}
					}
				}
			}
			for _, uid := range regexp.MustCompile(`"uid":\s*"([^"]*)"`).FindAllStringSubmatch(string(raw), -1) {
				if u := uid[1]; u != d.UID && u != dsRef && u != "-- Grafana --" {
					t.Errorf("hard-coded data source uid %q", u)
				}
			}
		})
	}
}

type dsRefJSON struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// reSiteMatcher: every selector of a panel query filters by the site variable (and by the
// instance variable). The exporter's
// own metrics (build info, from /metrics) never have a site label: those selectors may add
// the empty site with `site=~"$site|"`.
var (
	reSiteMatcher = regexp.MustCompile(`site=~"\$site\|?"`)
	reSelector    = regexp.MustCompile(`\{[^{}]*\}`)
)

type variable struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Query      any        `json:"query"`
	Datasource *dsRefJSON `json:"datasource"`
	Multi      bool       `json:"multi"`
	IncludeAll bool       `json:"includeAll"`
	AllValue   string     `json:"allValue"`
}

type panel struct {
	ID         int                       `json:"id"`
	Type       string                    `json:"type"`
	Title      string                    `json:"title"`
	Datasource *dsRefJSON                `json:"datasource"`
	GridPos    *struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource *dsRefJSON `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}
