package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

// Whole-exposition golden files: one per healthy platform set-up and one
// per failure cause. The fake clock stands still, so durations are 0 and
// timestamps fixed; regenerate with go test ./collector -update.

func TestGoldenHealthy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		platform   ativo.Platform
		collectors []string
	}{
		{"healthy_cloud_default", ativo.PlatformCloud, []string{CollectorTeam, CollectorVersion}},
		{"healthy_cloud_all", ativo.PlatformCloud, allCollectors},
		// Data Center: no /team index and no version endpoint (the
		// fake's defaults): team falls back to /teams, the version comes
		// from the header, and neither counts as a failure.
		{"healthy_datacenter_default", ativo.PlatformDataCenter, []string{CollectorTeam, CollectorVersion}},
		{"healthy_datacenter_all", ativo.PlatformDataCenter, allCollectors},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.platform, withCollectors(tc.collectors...))
			e.compareGolden(tc.name)
		})
	}
}

func TestGoldenFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  string // faulted path; the version endpoint stays healthy unless All
		fault ativotest.Fault
		setup func(e *env)
	}{
		{"failure_auth_401", ativotest.All, ativotest.Fault401, nil},
		{"failure_auth_403", ativotest.All, ativotest.Fault403, nil},
		{"failure_auth_login_page", ativotest.All, ativotest.FaultHTML, nil},
		{"failure_not_found", ativotest.All, ativotest.Fault404, nil},
		// Team only: retry waits move the shared fake clock, which would
		// make a concurrent request's duration vary.
		{"failure_rate_limited", ativo.PathTeamIndex, ativotest.Fault429, nil},
		{"failure_client_error", ativo.PathTeamIndex, ativotest.Fault400, nil},
		{"failure_server_error", ativo.PathTeamIndex, ativotest.Fault500, nil},
		{"failure_decode_malformed", ativo.PathTeamIndex, ativotest.FaultMalformed, nil},
		{"failure_decode_empty", ativo.PathTeamIndex, ativotest.FaultEmpty, nil},
		{"failure_network_truncated", ativo.PathTeamIndex, ativotest.FaultTruncated, nil},
		{"failure_too_large", ativo.PathTeamIndex, ativotest.FaultOversized, func(e *env) { e.fake.SetOversize(2 << 20) }},
		{"failure_timeout", ativo.PathTeamIndex, ativotest.FaultSlow, nil},
		{"failure_no_token", "", ativotest.FaultNone, func(e *env) { e.writeToken(" \n") }},
		{"failure_network_refused", "", ativotest.FaultNone, func(e *env) { e.srv.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []envOpt{}
			if tc.fault == ativotest.Fault429 {
				opts = append(opts, withCollectors(CollectorTeam))
			}
			if tc.fault == ativotest.FaultSlow {
				opts = append(opts, func(_ *ativo.Config, o *Options) { o.Timeout = 300 * time.Millisecond })
			}
			e := newEnv(t, ativo.PlatformCloud, opts...)
			if tc.path != "" {
				e.fake.SetFault(tc.path, tc.fault)
			}
			if tc.setup != nil {
				tc.setup(e)
			}
			e.compareGolden(tc.name)
		})
	}
}

func TestLint(t *testing.T) {
	e := newEnv(t, ativo.PlatformCloud, withCollectors(allCollectors...))
	problems, err := testutil.CollectAndLint(e.site)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	// The failure path must lint clean too.
	e.fake.SetFault(ativotest.All, ativotest.Fault500)
	problems, err = testutil.CollectAndLint(e.site)
	if err != nil || len(problems) > 0 {
		t.Fatalf("%v %v", problems, err)
	}
}
