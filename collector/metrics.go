package collector

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric types as written in the README table.
const (
	typeGauge     = "gauge"
	typeCounter   = "counter"
	typeHistogram = "histogram"
)

// metricInfo is one row of the metrics table: the single source for the
// Descs, the counter vectors and the README table, so they cannot drift.
type metricInfo struct {
	Name   string
	Type   string
	Labels []string
	Help   string
}

func (m metricInfo) desc() *prometheus.Desc {
	return prometheus.NewDesc(m.Name, m.Help, m.Labels, nil)
}

// The metrics every site emits, in README order.
var (
	mUp = metricInfo{"ativo_up", typeGauge, nil,
		"1 when every enabled endpoint gave usable data in this collection (a cache hit counts), else 0; 0 while the site is in rate-limit backoff."}
	mEndpointUp = metricInfo{"ativo_api_endpoint_up", typeGauge, []string{"endpoint"},
		"1 when the endpoint gave usable data in this collection (a cache hit counts), else 0."}
	mTokenValid = metricInfo{"ativo_api_token_valid", typeGauge, nil,
		"0 when Ativo rejected the token (401, 403 or a login page) or no token could be read, 1 after a 2xx answer; absent until decided for the current token."}
	mModelVersion = metricInfo{"ativo_api_model_version", typeGauge, nil,
		"Data model version reported by Ativo, from /meta/model/version or the X-API-Model-Version header of the newest answer."}
	mModelVersionSupported = metricInfo{"ativo_api_model_version_supported", typeGauge, nil,
		"Ativo data model version this build of the exporter understands."}
	mInfo = metricInfo{"ativo_api_info", typeGauge, []string{"platform", "url"},
		"Ativo API in use: platform (cloud or datacenter) and base URL without credentials; always 1."}
	mRequests = metricInfo{"ativo_api_requests_total", typeCounter, []string{"endpoint", "code"},
		"HTTP requests sent to Ativo, retries included, by endpoint and status code (none when no response arrived)."}
	mFailures = metricInfo{"ativo_api_request_failures_total", typeCounter, []string{"endpoint", "cause"},
		"Ativo calls that gave no usable data, by endpoint and cause."}
	mDuration = metricInfo{"ativo_api_request_duration_seconds", typeHistogram, []string{"endpoint"},
		"Time per HTTP request to Ativo, from sending to the end of the body."}
	mScrapeDuration = metricInfo{"ativo_scrape_duration_seconds", typeGauge, nil,
		"Wall time of the collection that answered this scrape."}
	mLastSuccess = metricInfo{"ativo_last_success_timestamp_seconds", typeGauge, []string{"endpoint"},
		"Unix time of the last collection in which the endpoint gave usable data from Ativo (cache hits excluded); absent until the first."}
	mBackoff = metricInfo{"ativo_api_backoff_seconds", typeGauge, nil,
		"Seconds left before Ativo is called again after a rate limit (429) that retries could not clear; 0 when not backing off."}
	mTeams = metricInfo{"ativo_teams", typeGauge, nil,
		"Number of teams, from the team index (/team) or the team configurations (/teams); omitted when the endpoint failed."}
	mTeamConfigurations = metricInfo{"ativo_team_configurations", typeGauge, []string{"type", "mode", "estimation", "archived"},
		"Number of team configurations (/teams) by the type, mode, estimation and isArchived fields; omitted when the endpoint failed."}
	mPrograms = metricInfo{"ativo_programs", typeGauge, []string{"archived"},
		"Number of programs (ARTs) from /programs (or the /program index) by isArchived; omitted when the endpoint failed."}
	mPeriods = metricInfo{"ativo_periods", typeGauge, []string{"archived"},
		"Number of periods (PIs) from /periods (or the /period index) by isArchived; omitted when the endpoint failed."}
)

// allMetrics is every metric a site can emit, in README order.
var allMetrics = []metricInfo{
	mUp, mEndpointUp, mTokenValid, mModelVersion, mModelVersionSupported, mInfo,
	mRequests, mFailures, mDuration, mScrapeDuration, mLastSuccess, mBackoff,
	mTeams, mTeamConfigurations, mPrograms, mPeriods,
}

// BuildInfoMetric is the name of the build info gauge registered by main.
const BuildInfoMetric = "ativo_exporter_build_info"

// MetricNames returns the family name of every ativo_* metric the
// exporter can emit, build info included.
func MetricNames() []string {
	names := make([]string, 0, len(allMetrics)+1)
	for _, m := range allMetrics {
		names = append(names, m.Name)
	}
	return append(names, BuildInfoMetric)
}

// MetricsTable renders the README metrics table.
func MetricsTable() string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | help |\n|---|---|---|---|\n")
	for _, m := range allMetrics {
		labels := ""
		if len(m.Labels) > 0 {
			labels = "`" + strings.Join(m.Labels, "`, `") + "`"
		}
		b.WriteString("| `" + m.Name + "` | " + m.Type + " | " + labels + " | " + m.Help + " |\n")
	}
	b.WriteString("| `" + BuildInfoMetric + "` | gauge | `version`, `revision`, `branch`, `goversion`, `goos`, `goarch`, `tags` | " + BuildInfoHelp + " |\n")
	return b.String()
}

// BuildInfoHelp is the help text of client_golang's version collector.
const BuildInfoHelp = "A metric with a constant '1' value labeled by version, revision, branch, goversion from which ativo_exporter was built, and the goos and goarch for the build."
