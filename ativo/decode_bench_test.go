package ativo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// Benchmark bodies follow the shapes the fake Ativo serves
// (ativotest.GenerateTeams, which this package cannot import): every
// second team is a custom team with a manual filter, the others board
// teams. Run with
//
//	go test -run '^$' -bench . -benchmem ./ativo
//
// ns/item is the decoding time per list element; B/op and allocs/op are
// per whole body and must not grow with the number of items.

var benchSizes = []int{1_000, 10_000, 100_000}

var benchManualFilter = json.RawMessage(`{"filterMode":"MANUAL","manualFilterBody":{"projects":{"selectionOn":"PROJECT","values":[{"id":"10000"}]},"fieldFilters":[{"field":{"id":"customfield_10100"},"values":[{"id":"10200"}],"jqlGeneratePattern":"WHERE_FIELD_IN_VALUE_LABEL","operator":"IN"}]}}`)

func benchTeams(n int) []Team {
	modes := []string{"SCRUM", "KANBAN"}
	estimations := []string{"STORY_POINTS", "MAN_DAYS", "ISSUE_COUNT"}
	teams := make([]Team, n)
	for i := range teams {
		id := int64(i + 1)
		t := Team{ID: id, Key: fmt.Sprintf("T%07d", id), Name: fmt.Sprintf("Team %d of the Payments release train", id)}
		archived := i%17 == 0 && i%2 != 0
		t.IsArchived = &archived
		if i%2 == 0 {
			mode, est := modes[(i/2)%2], estimations[(i/2)%3]
			t.Type, t.Mode, t.Estimation, t.ConfigFilter = "CUSTOM", &mode, &est, benchManualFilter
		} else {
			t.Type, t.Board = "BOARD", &Board{ID: 100 + id}
		}
		teams[i] = t
	}
	return teams
}

func benchBody(b *testing.B, v any) []byte {
	b.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// teamIndexBody is GET /team with n items.
func teamIndexBody(b *testing.B, n int) []byte {
	teams := benchTeams(n)
	idx := make([]IndexItem, n)
	for i, t := range teams {
		idx[i] = IndexItem{ID: t.ID, Key: t.Key, Name: t.Name}
	}
	return benchBody(b, idx)
}

// runDecode runs decode over body b.N times and reports ns/item.
func runDecode(b *testing.B, body []byte, items int, decode func(io.Reader) (int, error)) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	r := bytes.NewReader(body)
	b.ResetTimer()
	for b.Loop() {
		r.Reset(body)
		n, err := decode(r)
		if err != nil {
			b.Fatal(err)
		}
		if n != items {
			b.Fatalf("decoded %d items, want %d", n, items)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(items), "ns/item")
}

func BenchmarkCountItemsTeamIndex(b *testing.B) {
	for _, n := range benchSizes {
		body := teamIndexBody(b, n)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			runDecode(b, body, n, countItems)
		})
	}
}

func BenchmarkDecodeTeams(b *testing.B) {
	for _, n := range benchSizes {
		body := benchBody(b, benchTeams(n))
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			runDecode(b, body, n, func(r io.Reader) (int, error) {
				sum, err := decodeTeams(r)
				if err != nil {
					return 0, err
				}
				return sum.Total, nil
			})
		})
	}
}

func BenchmarkDecodeArchived(b *testing.B) {
	for _, n := range benchSizes {
		ps := make([]Program, n)
		for i := range ps {
			a := i%5 == 0
			ps[i] = Program{ID: int64(i), Key: fmt.Sprintf("P%d", i), Name: "Program", IsArchived: &a,
				CombinedFilter: json.RawMessage(`{"mode":"PROGRAM_FILTER_EPIC_AND_ISSUES_UNDER_EPIC","epicMode":"PROGRAM_EPICS_IN_FILTER"}`)}
		}
		body := benchBody(b, ps)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			runDecode(b, body, n, func(r io.Reader) (int, error) {
				ac, err := decodeArchived(r)
				if err != nil {
					return 0, err
				}
				return ac.Total, nil
			})
		})
	}
}

// The same work with encoding/json, for scale: unmarshalling the list
// into the wire structs, as a straightforward client would.
func BenchmarkEncodingJSONReference(b *testing.B) {
	for _, n := range benchSizes {
		body := benchBody(b, benchTeams(n))
		b.Run(fmt.Sprintf("teams/items=%d", n), func(b *testing.B) {
			runDecode(b, body, n, func(r io.Reader) (int, error) {
				var teams []Team
				err := json.NewDecoder(r).Decode(&teams)
				return len(teams), err
			})
		})
	}
}
