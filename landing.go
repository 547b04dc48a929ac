package main

import (
	"html/template"
	"net/http"
	"time"

	"github.com/prometheus/common/version"

	"github.com/ativo-exporter/ativo_exporter/collector"
)

// The toolkit's landing page is rendered once; this one shows each
// endpoint's last result. Error texts come from the client, which never
// puts the token in them; html/template escapes them anyway.
var landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339) + " (" + time.Since(t).Round(time.Second).String() + " ago)"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Ativo Exporter</title>
<style>
body{font-family:-apple-system,system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.up{color:#1a7f37}.down{color:#cf222e}.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.6em;margin-bottom:1em}
</style></head>
<body>
<h1>Ativo Exporter</h1>
{{if .Demo}}<div class="banner" id="demo-banner"><strong>Demo mode:</strong> the data below comes from an embedded fake Ativo with fixed sample data, not from a real Jira site.</div>{{end}}
<p>Prometheus exporter for Ativo Programs for Jira. Version: <code>{{.Version}}</code></p>
{{if .HasDefault}}<p>Target: <code>{{.URL}}</code> (platform <code>{{.Platform}}</code>)</p>
<h2>Endpoints</h2>
<table>
<tr><th>endpoint</th><th>last result</th><th>last attempt</th><th>last success</th><th>error</th></tr>
{{range .Endpoints}}<tr><td><code>{{.Endpoint}}</code></td>
<td>{{if .LastAttempt.IsZero}}not called yet{{else if .Up}}<span class="up">up</span>{{else}}<span class="down">failing: {{.Cause}}</span>{{end}}</td>
<td>{{ago .LastAttempt}}</td><td>{{ago .LastSuccess}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
<p>Each scrape of the metrics path calls Ativo; this page and the health endpoints never do.</p>
{{else}}<p>No default site: the metrics path carries the exporter's own metrics; Ativo sites are served on <code>/probe</code>.</p>{{end}}
{{if .Sites}}<h2>Sites</h2>
<ul>{{range .Sites}}<li><a href="probe?target={{.}}">{{.}}</a></li>{{end}}</ul>{{end}}
<ul>
<li><a href="{{.MetricsPath}}">Metrics</a></li>
<li><a href="-/healthy">Health</a></li>
<li><a href="-/ready">Readiness</a></li>
</ul>
</body></html>
`))

type landingData struct {
	HasDefault  bool
	Sites       []string
	Demo        bool
	Version     string
	URL         string
	Platform    string
	MetricsPath string
	Endpoints   []collector.EndpointStatus
}

func (e *exporter) landingHandler(metricsPath string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		data := landingData{
			Demo:        e.settings.demo,
			Version:     version.Info(),
			MetricsPath: metricsPath,
		}
		if e.site != nil {
			data.HasDefault = true
			data.URL = e.client.URL()
			data.Platform = string(e.client.Platform())
			data.Endpoints = e.site.Status()
		}
		if e.sites != nil {
			data.Sites = e.sites.Names()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := landingTemplate.Execute(w, data); err != nil {
			http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		}
	})
}
