package ativo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCountItems(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       int
		wantErr    bool
	}{
		// Documented shape (ativo-api.md §2.2): a bare array of {id,key,name}.
		{"documented index", `[{"id":1,"key":"LION","name":"Lions"},{"id":2,"key":"TIGER","name":"Tigers"}]`, 2, false},
		{"empty array", `[]`, 0, false},
		{"whitespace and BOM", "\xef\xbb\xbf \n[ {\"id\":1} ,\n {\"id\":2} ]\n", 2, false},
		// Unknowns: unknown fields, nulls, nested values.
		{"unknown fields and nesting", `[{"id":1,"extra":{"a":[1,2,{"b":null}]},"n":-1.5e+3,"t":true,"f":false}]`, 1, false},
		{"null items skipped", `[null,{"id":1},null]`, 1, false},
		{"top-level null is empty", `null`, 0, false},
		// An envelope is not documented but tolerated.
		{"values envelope", `{"total":2,"values":[{"id":1},{"id":2}],"isLast":true}`, 2, false},
		{"data envelope after other fields", `{"meta":{"x":[1]},"data":[{"id":1}]}`, 1, false},
		{"escaped strings", `[{"name":"a\"b\\c\/\u00e9\ud83d\ude00\n"}]`, 1, false},
		{"scalar items counted", `[1,"two",true]`, 3, false},
		{"object without list", `{"message":"hello"}`, 0, true},
		{"truncated", `[{"id":1},{"id":`, 0, true},
		{"trailing garbage", `[{"id":1}] x`, 0, true},
		{"two values", `[] []`, 0, true},
		{"bare string", `"teams"`, 0, true},
		{"missing comma", `[{"id":1} {"id":2}]`, 0, true},
		{"trailing comma", `[{"id":1},]`, 0, true},
		{"bad literal", `[tru]`, 0, true},
		{"bad number", `[01]`, 0, true},
		{"bad number 2", `[1.]`, 0, true},
		{"bad escape", `["\x"]`, 0, true},
		{"control char in string", "[\"a\tb\"]", 0, true},
		{"empty body", ``, 0, true},
		{"deep nesting", strings.Repeat("[", 1000) + strings.Repeat("]", 1000), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := countItems(strings.NewReader(tc.body))
			if tc.wantErr {
				if _, ok := errors.AsType[*DecodeError](err); !ok {
					t.Fatalf("want a DecodeError, got %v (count %d)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("count = %d, want %d", got, tc.want)
			}
		})
	}
}

// The scanner must agree with encoding/json on what is valid JSON, one
// byte at a time as well as in one read.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		`[1,2,3]`, `[{"a":"\u00e9"}]`, `[-0.5e10]`, `[1e]`, `[-]`, `[0.1]`, `[.1]`, `[1E+2]`,
		`["\ud800"]`, `["\ud800\u0041"]`, `["\udc00"]`, `[{"a":1,"a":2}]`, `[{"a" 1}]`, `[{1:2}]`,
		`["a` + "\x00" + `"]`, `[nul]`, `[true,false,null]`, `[[],[[]],{}]`, `[{"a":[{"b":{}}]}]`,
		`["\uZZZZ"]`, `["\u12"]`, `[1 2]`, `[,]`, `[]]`,
	}
	for _, in := range inputs {
		var v any
		wantValid := json.Unmarshal([]byte(in), &v) == nil
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			_, err := countItems(r)
			if (err == nil) != wantValid {
				t.Errorf("%q: scanner err = %v, encoding/json valid = %v", in, err, wantValid)
			}
		}
	}
}

func TestDecodeTeams(t *testing.T) {
	// The documented v9 example (ativo-api.md §2.3), a custom team with
	// inferred literals, nulls, missing fields, an unknown enum value, an
	// over-long value, a non-string enum, escapes and unknown fields.
	body := `[
	 {"id":1,"key":"LION","name":"Lions","type":"BOARD","board":{"id":7},"isArchived":false},
	 {"id":2,"key":"FOX","name":"Foxes","type":"CUSTOM","mode":"SCRUM","estimation":"STORY_POINTS",
	  "configFilter":{"filterMode":"JIRA","jiraFilterBody":{"id":"10042"}},"isArchived":false},
	 {"id":3,"type":"BOARD","mode":null,"estimation":null,"board":null,"isArchived":null},
	 {"id":4,"type":"BOARD"},
	 {"id":5,"type":"TEAM_OF_TEAMS","mode":"SCRUMBAN","estimation":"T_SHIRT","isArchived":true,"futureField":[1,2]},
	 {"id":6,"type":"` + strings.Repeat("X", 65) + `","mode":{"id":"SCRUM"},"estimation":3,"isArchived":"true"},
	 {"id":7,"type":"\u0042OARD","isArchived":false}
	]`
	got, err := decodeTeams(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := map[TeamConfig]int{
		{Type: "BOARD", Archived: "false"}:                                             2,
		{Type: "CUSTOM", Mode: "SCRUM", Estimation: "STORY_POINTS", Archived: "false"}: 1,
		{Type: "BOARD"}: 2,
		{Type: "TEAM_OF_TEAMS", Mode: "SCRUMBAN", Estimation: "T_SHIRT", Archived: "true"}: 1,
		{Type: "other", Mode: "other", Estimation: "3", Archived: "true"}:                  1,
	}
	if got.Total != 7 {
		t.Errorf("total = %d, want 7", got.Total)
	}
	if len(got.Configs) != len(want) {
		t.Errorf("configs = %v, want %v", got.Configs, want)
	}
	for k, v := range want {
		if got.Configs[k] != v {
			t.Errorf("configs[%+v] = %d, want %d", k, got.Configs[k], v)
		}
	}
}

func TestDecodeTeamsRejectsNonObjects(t *testing.T) {
	_, err := decodeTeams(strings.NewReader(`[{"id":1},42]`))
	if _, ok := errors.AsType[*DecodeError](err); !ok {
		t.Fatalf("want DecodeError, got %v", err)
	}
}

func TestDecodeArchived(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       map[string]int
	}{
		{"configurations", `[{"id":1,"isArchived":false,"combinedFilter":{"mode":"X"}},{"id":2,"isArchived":true},{"id":3,"isArchived":false}]`,
			map[string]int{"false": 2, "true": 1}},
		{"index has no flag", `[{"id":1,"key":"PGRM1","name":"A"},{"id":2,"key":"PGRM2","name":"B"}]`, map[string]int{"": 2}},
		{"odd flags", `[{"isArchived":"yes"},{"isArchived":1},{"isArchived":null}]`, map[string]int{"": 3}},
		{"empty", `[]`, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeArchived(strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.ByArchived) != len(tc.want) {
				t.Fatalf("got %v, want %v", got.ByArchived, tc.want)
			}
			total := 0
			for k, v := range tc.want {
				total += v
				if got.ByArchived[k] != v {
					t.Errorf("[%q] = %d, want %d", k, got.ByArchived[k], v)
				}
			}
			if got.Total != total {
				t.Errorf("total = %d, want %d", got.Total, total)
			}
		})
	}
}

func TestDecodeVersion(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    int
		wantErr bool
	}{
		// The body shape is undocumented (ativo-api.md §3): every
		// plausible form.
		{`9`, 9, false},
		{" 9\n", 9, false},
		{`"9"`, 9, false},
		{`9.0`, 9, false},
		{`{"version":9}`, 9, false},
		{`{"modelVersion":"10"}`, 10, false},
		{`{"model_version":11,"other":1}`, 11, false},
		{`{"apiVersion":"1","build":{"x":1},"v":12}`, 0, true}, // two numbers, neither named
		{`{"something":12}`, 12, false},
		{`{"name":"ativo"}`, 0, true},
		{`"nine"`, 0, true},
		{`-1`, 0, true},
		{`9.5`, 0, true},
		{`[9]`, 0, true},
		{`9 9`, 0, true},
		{``, 0, true},
		{strings.Repeat(" ", maxVersionBody+1) + "9", 0, true},
	} {
		got, err := decodeVersion(strings.NewReader(tc.body))
		if tc.wantErr {
			if _, ok := errors.AsType[*DecodeError](err); !ok {
				t.Errorf("%.40q: want DecodeError, got %d, %v", tc.body, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.body, got, err, tc.want)
		}
	}
}

func TestParseModelVersion(t *testing.T) {
	for in, want := range map[string]int{"9": 9, "10": 10, "0": 0, "9.0": 9} {
		if got, ok := ParseModelVersion(in); !ok || got != want {
			t.Errorf("%q: got %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "x", "-1", "9.5", "NaN", "Inf", "1e40", "99999999999"} {
		if got, ok := ParseModelVersion(in); ok {
			t.Errorf("%q: accepted as %d", in, got)
		}
	}
}

// A read error in the middle of a body (a cut connection, the size cap)
// is passed through, not turned into a syntax error.
func TestScannerPassesReadErrors(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`[{"id":1},`), iotest.ErrReader(ErrTooLarge))
	_, err := countItems(r)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestDecodeTeamsBoundsSeries(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"T%d","isArchived":false}`, i)
	}
	b.WriteString("]")
	got, err := decodeTeams(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Configs) != MaxTeamConfigs+1 || got.Total != 1000 {
		t.Fatalf("%d series for %d teams, want %d", len(got.Configs), got.Total, MaxTeamConfigs+1)
	}
	if n := got.Configs[TeamConfig{Type: "other", Mode: "other", Estimation: "other", Archived: "false"}]; n != 1000-MaxTeamConfigs {
		t.Fatalf("other = %d", n)
	}
}
