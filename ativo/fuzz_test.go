package ativo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// Fuzz targets for every decoder of an Ativo answer. Seeds live in
// testdata/fuzz/<target>/ (committed) and in the f.Add calls below; a
// bounded run for CI is `make fuzz` (about 10 s per target).
//
// Properties checked for every input:
//   - no panic and no hang, whole and one byte at a time (and with a read
//     that returns no data), with the same result both ways;
//   - a success implies the input is valid JSON (encoding/json agrees);
//   - for a top-level array of valid UTF-8 JSON, the counts equal those
//     computed independently with encoding/json;
//   - label values are bounded (at most 64 bytes, valid UTF-8).

// maxFuzzInput keeps each fuzz input small enough that the properties
// stay cheap; the decoders themselves have no such limit.
const maxFuzzInput = 1 << 16

var fuzzSeeds = []string{
	`[{"id":1,"key":"LION","name":"Lions"},{"id":2,"key":"TIGER","name":"Tigers"}]`,
	`[{"id":1,"key":"LION","name":"Lions","type":"BOARD","board":{"id":7},"isArchived":false},{"id":2,"key":"FOX","name":"Foxes","type":"CUSTOM","mode":"SCRUM","estimation":"STORY_POINTS","configFilter":{"filterMode":"JIRA","jiraFilterBody":{"id":"10042"}},"isArchived":false}]`,
	`[{"id":3,"type":"BOARD","mode":null,"estimation":null,"board":null,"isArchived":null},{"id":4,"type":"BOARD"}]`,
	`[{"type":"\u0042OARD","mode":{"x":1},"estimation":3,"isArchived":"true"},{"isArchived":true}]`,
	`{"total":2,"values":[{"id":1,"isArchived":true},{"id":2}],"isLast":true}`,
	`{"meta":{"x":[1]},"data":[{"id":1}]}`,
	"\xef\xbb\xbf [ {\"id\":1} ,\n {\"id\":2} ]\n",
	`[null,{"id":1},null]`, `null`, `[]`, `{}`, `[1,"two",true]`,
	`[{"name":"a\"b\\c\/\u00e9\ud83d\ude00\n"}]`, `["\ud800"]`, `["\ud800\u0041"]`,
	`[{"id":1},{"id":`, `[{"id":1}] x`, `[01]`, `[1.]`, `[-]`, `[1e+]`, `["\x"]`, "[\"a\tb\"]",
	`[{"type":"` + strings.Repeat("X", 65) + `"}]`, `[{"type":"` + strings.Repeat("é", 200) + `"}]`,
	strings.Repeat("[", 300) + strings.Repeat("]", 300),
	`[{"id":1,"key":"LION","name":"Lions","type":"BOARD"},{"id":2,"key":`,
	"[{\"type\":\"\xff\xfe\"}]",
	`9`, `"9"`, `9.0`, `{"version":9}`, `{"modelVersion":"10"}`, `{"something":12}`, `-1`, `1e400`,
	`<!DOCTYPE html><html></html>`,
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
}

// readers yields the input whole, one byte per read, and with an empty
// read before every byte, to exercise every buffer boundary.
func readers(data []byte) []io.Reader {
	return []io.Reader{
		bytes.NewReader(data),
		iotest.OneByteReader(bytes.NewReader(data)),
		&stutterReader{data: data},
	}
}

// stutterReader returns (0, nil) before every byte, as a slow network
// connection may.
type stutterReader struct {
	data  []byte
	empty bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	if s.empty = !s.empty; s.empty || len(p) == 0 {
		return 0, nil
	}
	p[0] = s.data[0]
	s.data = s.data[1:]
	return 1, nil
}

func stripBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }

// checkDecodeError: failures of the decoders on in-memory input are
// DecodeErrors, never another kind of error.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if _, ok := errors.AsType[*DecodeError](err); !ok {
		t.Fatalf("error %v (%T) is not a DecodeError", err, err)
	}
}

// checkValidIfAccepted: whatever a decoder accepts is valid JSON.
func checkValidIfAccepted(t *testing.T, data []byte, err error) {
	t.Helper()
	if err == nil && !json.Valid(stripBOM(data)) {
		t.Fatalf("accepted invalid JSON %q", data)
	}
}

// referenceList decodes a top-level array with encoding/json; ok is false
// when the reference does not apply (not an array, invalid JSON or UTF-8).
func referenceList(data []byte) (items []json.RawMessage, ok bool) {
	data = stripBOM(data)
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' || !utf8.Valid(data) || !json.Valid(data) {
		return nil, false
	}
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, false
	}
	return items, true
}

func tooDeep(err error) bool {
	de, ok := errors.AsType[*DecodeError](err)
	return ok && de.Msg == "nesting too deep"
}

func FuzzCountItems(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		var first int
		var firstErr error
		for i, r := range readers(data) {
			n, err := countItems(r)
			checkDecodeError(t, err)
			if i == 0 {
				first, firstErr = n, err
				continue
			}
			if (err == nil) != (firstErr == nil) || (err == nil && n != first) {
				t.Fatalf("reader %d: %d, %v; whole input: %d, %v", i, n, err, first, firstErr)
			}
		}
		checkValidIfAccepted(t, data, firstErr)
		items, ok := referenceList(data)
		if !ok || tooDeep(firstErr) {
			return
		}
		want := 0
		for _, it := range items {
			if string(it) != "null" {
				want++
			}
		}
		if firstErr != nil || first != want {
			t.Fatalf("count = %d, %v; encoding/json counts %d non-null items", first, firstErr, want)
		}
	})
}

// referenceLabel is labelValue computed from an encoding/json value.
func referenceLabel(raw json.RawMessage, present bool) string {
	if !present {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "<invalid>"
	}
	switch t := v.(type) {
	case nil:
		return ""
	case bool:
		if t {
			return "true"
		}
		return "false"
	case json.Number:
		if len(t) > maxLabelLen {
			return "other"
		}
		return string(t)
	case string:
		if len(t) > maxLabelLen || !utf8.ValidString(t) {
			return "other"
		}
		return t
	default:
		return "other"
	}
}

func referenceArchived(raw json.RawMessage, present bool) string {
	switch v := referenceLabel(raw, present); v {
	case "true", "false":
		return v
	}
	return ""
}

// referenceObjects decodes every item of a top-level array as an object;
// ok is false when the reference does not apply or an item is not an

func checkArchived(t *testing.T, v string) {
	t.Helper()
	if v != "true" && v != "false" && v != "" {
		t.Fatalf("archived = %q", v)
	}
}

// checkAgainstReference checks the decoder's verdict on data (decodeErr) against
// encoding/json's reading of it as a list of objects, and returns those
// objects when the decoder accepted them and the reference applies.
func checkAgainstReference(t *testing.T, data []byte, decodeErr error) ([]map[string]json.RawMessage, bool) {
	t.Helper()
	checkValidIfAccepted(t, data, decodeErr)
	objs, applies, ok := referenceObjects(data)
	if !applies || tooDeep(decodeErr) {
		return nil, false
	}
	if !ok {
		if decodeErr == nil {
			t.Fatalf("accepted a list with a non-object item: %q", data)
		}
		return nil, false
	}
	if decodeErr != nil {
		t.Fatalf("rejected valid input: %v", decodeErr)
	}
	return objs, true
}

// object or null (then the decoder must fail).
func referenceObjects(data []byte) (objs []map[string]json.RawMessage, applies, ok bool) {
	items, applies := referenceList(data)
	if !applies {
		return nil, false, false
	}
	for _, it := range items {
		if string(it) == "null" {
			continue
		}
		var m map[string]json.RawMessage
		if it[0] != '{' || json.Unmarshal(it, &m) != nil {
			return nil, true, false
		}
		objs = append(objs, m)
	}
	return objs, true, true
}

func checkLabel(t *testing.T, v string) {
	t.Helper()
	if len(v) > maxLabelLen || !utf8.ValidString(v) {
		t.Fatalf("unbounded or invalid label value %q", v)
	}
}

func FuzzDecodeTeams(f *testing.F) {
	addSeeds(f)
	// More distinct configurations than MaxTeamConfigs keeps.
	many := []string{}
	for i := range MaxTeamConfigs + 50 {
		many = append(many, fmt.Sprintf(`{"type":"T%d"}`, i))
	}
	f.Add([]byte("[" + strings.Join(many, ",") + "]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		var first *TeamSummary
		var firstErr error
		for i, r := range readers(data) {
			sum, err := decodeTeams(r)
			checkDecodeError(t, err)
			if err == nil {
				total := 0
				for tc, n := range sum.Configs {
					checkLabel(t, tc.Type)
					checkLabel(t, tc.Mode)
					checkLabel(t, tc.Estimation)
					checkArchived(t, tc.Archived)
					total += n
				}
				if total != sum.Total {
					t.Fatalf("configs add up to %d, total %d", total, sum.Total)
				}
			}
			if i == 0 {
				first, firstErr = sum, err
				continue
			}
			if (err == nil) != (firstErr == nil) || (err == nil && !equalSummaries(sum, first)) {
				t.Fatalf("reader %d: %+v, %v; whole input: %+v, %v", i, sum, err, first, firstErr)
			}
		}
		objs, ok := checkAgainstReference(t, data, firstErr)
		if !ok {
			return
		}
		want := map[TeamConfig]int{}
		for _, m := range objs {
			get := func(k string) (json.RawMessage, bool) { v, ok := m[k]; return v, ok }
			tc := TeamConfig{}
			tc.Type = referenceLabel(get("type"))
			tc.Mode = referenceLabel(get("mode"))
			tc.Estimation = referenceLabel(get("estimation"))
			tc.Archived = referenceArchived(get("isArchived"))
			if _, known := want[tc]; !known && len(want) >= MaxTeamConfigs {
				tc = TeamConfig{Type: "other", Mode: "other", Estimation: "other", Archived: tc.Archived}
			}
			want[tc]++
		}
		if !equalSummaries(first, &TeamSummary{Total: len(objs), Configs: want}) {
			t.Fatalf("decoded %+v; encoding/json gives total %d, %v", first, len(objs), want)
		}
	})
}

func equalSummaries(a, b *TeamSummary) bool {
	if a.Total != b.Total || len(a.Configs) != len(b.Configs) {
		return false
	}
	for k, v := range a.Configs {
		if b.Configs[k] != v {
			return false
		}
	}
	return true
}

func FuzzDecodeArchived(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		var first *ArchiveCounts
		var firstErr error
		for i, r := range readers(data) {
			ac, err := decodeArchived(r)
			checkDecodeError(t, err)
			if err == nil {
				total := 0
				for k, n := range ac.ByArchived {
					checkArchived(t, k)
					total += n
				}
				if total != ac.Total {
					t.Fatalf("counts add up to %d, total %d", total, ac.Total)
				}
			}
			if i == 0 {
				first, firstErr = ac, err
				continue
			}
			if (err == nil) != (firstErr == nil) || (err == nil && (ac.Total != first.Total || len(ac.ByArchived) != len(first.ByArchived))) {
				t.Fatalf("reader %d: %+v, %v; whole input: %+v, %v", i, ac, err, first, firstErr)
			}
		}
		objs, ok := checkAgainstReference(t, data, firstErr)
		if !ok {
			return
		}
		want := map[string]int{}
		for _, m := range objs {
			v, ok := m["isArchived"]
			want[referenceArchived(v, ok)]++
		}
		for k, n := range want {
			if first.ByArchived[k] != n {
				t.Fatalf("decoded %+v; encoding/json gives %v", first, want)
			}
		}
	})
}

func FuzzDecodeVersion(f *testing.F) {
	addSeeds(f)
	f.Add([]byte(strings.Repeat(" ", maxVersionBody) + "9"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2*maxVersionBody {
			return
		}
		v, err := decodeVersion(bytes.NewReader(data))
		checkDecodeError(t, err)
		v2, err2 := decodeVersion(iotest.OneByteReader(bytes.NewReader(data)))
		if v != v2 || (err == nil) != (err2 == nil) {
			t.Fatalf("whole: %d, %v; one byte at a time: %d, %v", v, err, v2, err2)
		}
		if err != nil {
			return
		}
		if v < 0 || v >= 1<<31 {
			t.Fatalf("version %d out of range", v)
		}
		if len(data) > maxVersionBody {
			t.Fatalf("accepted a %d-byte body", len(data))
		}
		checkValidIfAccepted(t, data, err)
	})
}

// The decoders keep a fixed buffer whatever the size of the list: the
// bytes allocated to decode 30k items are those for 1k items, give or
// take the interned label values.
func TestDecodersAllocateFlat(t *testing.T) {
	alloc := func(body []byte, decode func(io.Reader) error) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := decode(bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	teams := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"id":1,"key":"T","name":"Team","type":"CUSTOM","mode":"SCRUM","estimation":"MAN_DAYS","configFilter":{"filterMode":"JIRA","jiraFilterBody":{"id":"10042"}},"isArchived":false}`)
		}
		b.WriteString("]")
		return b.Bytes()
	}
	small, large := teams(1_000), teams(30_000)
	for name, decode := range map[string]func(io.Reader) error{
		"countItems":     func(r io.Reader) error { _, err := countItems(r); return err },
		"decodeTeams":    func(r io.Reader) error { _, err := decodeTeams(r); return err },
		"decodeArchived": func(r io.Reader) error { _, err := decodeArchived(r); return err },
	} {
		a, b := alloc(small, decode), alloc(large, decode)
		if b > a+16<<10 {
			t.Errorf("%s: %d bytes allocated for 1k items, %d for 30k", name, a, b)
		}
	}
}
