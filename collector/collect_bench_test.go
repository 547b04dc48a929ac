package collector

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

// BenchmarkCollect is one full collection against the fake Ativo over
// loopback HTTP: requests, streaming decoding and building the metrics.
//
//	go test -run '^$' -bench Collect -benchmem ./collector
func BenchmarkCollect(b *testing.B) {
	for _, bc := range []struct {
		name       string
		teams      int
		collectors []string
	}{
		{"default/teams=10000", 10_000, []string{CollectorTeam, CollectorVersion}},
		{"all/teams=10000", 10_000, allCollectors},
		{"all/teams=100000", 100_000, allCollectors},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := ativotest.DemoData()
			d.Teams = ativotest.GenerateTeams(bc.teams)
			fake := ativotest.New(ativotest.WithToken(secret), ativotest.WithData(d))
			srv := httptest.NewServer(fake)
			defer srv.Close()
			defer fake.Close()
			client, err := ativo.New(ativo.Config{URL: srv.URL, Platform: ativo.PlatformCloud, Token: config.NewInlineSecret(secret)})
			if err != nil {
				b.Fatal(err)
			}
			defer client.CloseIdleConnections()
			enabled := map[string]bool{}
			for _, c := range bc.collectors {
				enabled[c] = true
			}
			site := New(client, Options{Enabled: enabled, Timeout: time.Minute})
			ch := make(chan prometheus.Metric, 256)
			b.ReportAllocs()
			for b.Loop() {
				done := make(chan int)
				go func() {
					n := 0
					for range ch {
						n++
					}
					done <- n
				}()
				site.collectUntil(context.Background(), time.Now().Add(time.Minute), ch)
				close(ch)
				if n := <-done; n == 0 {
					b.Fatal("no metrics")
				}
				ch = make(chan prometheus.Metric, 256)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bc.teams), "ns/team")
			if st := site.Status(); !st[0].Up {
				b.Fatalf("collection failed: %+v", st)
			}
		})
	}
}
