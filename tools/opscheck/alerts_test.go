package opscheck

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The alerts the operations docs promise.
var wantAlerts = []string{
	"AtivoExporterDown", "AtivoAPIDown", "AtivoTokenRevoked", "AtivoAPIRateLimited",
	"AtivoEndpointFailing", "AtivoModelVersionUnsupported", "AtivoScrapeSlow", "AtivoDataStale",
}

const runbookURL = "https://github.com/ativo-exporter/ativo_exporter/blob/main/docs/runbook.md#"

// TestAlertsDocumented: every alert has a severity, a summary, a description and a runbook
// link to its own section of docs/runbook.md, which says what it means, what to check first
// and how to fix it.
func TestAlertsDocumented(t *testing.T) {
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, alertsFile), &f); err != nil {
		t.Fatal(err)
	}
	sections := runbookSections(t, string(readRepoFile(t, "docs/runbook.md")))
	var got []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s", r.Alert, a)
				}
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
			if !ok || anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url %q, want %s%s", r.Alert, r.Annotations["runbook_url"], runbookURL, strings.ToLower(r.Alert))
				continue
			}
			body, ok := sections[anchor]
			if !ok {
				t.Errorf("%s: docs/runbook.md has no section #%s", r.Alert, anchor)
			}
			for _, part := range []string{"**Meaning.**", "**First checks.**", "**Fix.**"} {
				if !strings.Contains(body, part) {
					t.Errorf("%s: runbook section lacks %s", r.Alert, part)
				}
			}
		}
	}
	for _, a := range wantAlerts {
		if !slices.Contains(got, a) {
			t.Errorf("alerts.yml lacks %s", a)
		}
	}
}

// runbookSections maps GitHub heading anchors of "## " sections to their text.
func runbookSections(t *testing.T, md string) map[string]string {
	t.Helper()
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^## (.+)$`)
	idx := re.FindAllStringSubmatchIndex(md, -1)
	for i, m := range idx {
		end := len(md)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		title := md[m[2]:m[3]]
		anchor := strings.ReplaceAll(regexp.MustCompile(`[^a-z0-9 -]`).ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		out[anchor] = md[m[1]:end]
	}
	return out
}
