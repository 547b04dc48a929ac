package ativo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxLabelLen is the longest enum value kept verbatim as a label value;
// longer values become "other" so that a broken upstream cannot make
// unbounded label values.
const maxLabelLen = 64

// MaxTeamConfigs bounds the distinct (type, mode, estimation, archived)
// combinations kept from one answer; further ones are counted under
// "other". Real sites have a handful.
const MaxTeamConfigs = 250

// envelopeKeys are the object fields accepted as holding the list when an
// endpoint answers with an object instead of the documented bare array.
var envelopeKeys = map[string]bool{
	"values": true, "items": true, "results": true, "data": true,
	"teams": true, "programs": true, "periods": true,
}

// decodeList streams the list at the top of r, calling item with the
// scanner at each non-null element. A top-level null is an empty list. An
// object is accepted when one of envelopeKeys holds the array; its other
// fields are skipped.
func decodeList(r io.Reader, item func(s *scanner, first byte) error) error {
	s := newScanner(r)
	s.skipBOM()
	c, err := s.next()
	if err != nil {
		return err
	}
	each := func() error {
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == 'n' {
			return s.readLiteral("ull")
		}
		return item(s, c)
	}
	switch c {
	case '[':
		err = s.eachElement(each)
	case 'n':
		err = s.readLiteral("ull")
	case '{':
		found := false
		err = s.eachMember(func(key []byte) error {
			if found || !envelopeKeys[string(key)] {
				return s.skipValue()
			}
			c, err := s.peek()
			if err != nil || c != '[' {
				return s.skipValue()
			}
			found = true
			s.pos++
			return s.eachElement(each)
		})
		if err == nil && !found {
			return s.syntaxError("object holds no list of items")
		}
	default:
		s.pos--
		return s.syntaxError(fmt.Sprintf("expected a JSON array, found %q", c))
	}
	if err != nil {
		return err
	}
	return s.atEnd()
}

// countItems counts the non-null elements of the list in r without
// keeping any of them.
func countItems(r io.Reader) (int, error) {
	n := 0
	err := decodeList(r, func(s *scanner, first byte) error {
		n++
		return s.skipAfter(first)
	})
	return n, err
}

// interner hands out one string per distinct label value, so that a
// 100k-item list costs one allocation per distinct value, not per item.
type interner map[string]string

func (in interner) get(b []byte) string {
	if v, ok := in[string(b)]; ok {
		return v
	}
	v := string(b)
	in[v] = v
	return v
}

// labelValue reads any value as a label value: strings verbatim, null as
// "", numbers and booleans as their JSON text, objects and arrays, values
// above maxLabelLen bytes and invalid UTF-8 as "other".
func (s *scanner) labelValue(in interner) (string, error) {
	c, err := s.next()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		truncated, err := s.readString(true)
		if err != nil {
			return "", err
		}
		if truncated || len(s.scratch) > maxLabelLen || !utf8.Valid(s.scratch) {
			return "other", nil
		}
		return in.get(s.scratch), nil
	case 'n':
		return "", s.readLiteral("ull")
	case 't':
		return "true", s.readLiteral("rue")
	case 'f':
		return "false", s.readLiteral("alse")
	case '{', '[':
		return "other", s.skipAfter(c)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			if err := s.readNumber(c, true); err != nil {
				return "", err
			}
			if len(s.scratch) > maxLabelLen {
				return "other", nil
			}
			return in.get(s.scratch), nil
		}
		return "", s.skipAfter(c)
	}
}

// archivedValue reads isArchived: "true", "false", or "" for null, absent
// or anything else (a string "true"/"false" is accepted too).
func (s *scanner) archivedValue(in interner) (string, error) {
	v, err := s.labelValue(in)
	if err != nil {
		return "", err
	}
	switch v {
	case "true", "false":
		return v, nil
	}
	return "", nil
}

func notAnObject(s *scanner, first byte) error {
	s.pos--
	return s.syntaxError(fmt.Sprintf("list item is not an object (starts with %q)", first))
}

// decodeTeams reads a /teams answer into counts per configuration.
func decodeTeams(r io.Reader) (*TeamSummary, error) {
	sum := &TeamSummary{Configs: map[TeamConfig]int{}}
	in := interner{}
	err := decodeList(r, func(s *scanner, first byte) error {
		if first != '{' {
			return notAnObject(s, first)
		}
		var tc TeamConfig
		err := s.eachMember(func(key []byte) error {
			var err error
			switch string(key) {
			case "type":
				tc.Type, err = s.labelValue(in)
			case "mode":
				tc.Mode, err = s.labelValue(in)
			case "estimation":
				tc.Estimation, err = s.labelValue(in)
			case "isArchived":
				tc.Archived, err = s.archivedValue(in)
			default:
				err = s.skipValue()
			}
			return err
		})
		if err != nil {
			return err
		}
		if _, known := sum.Configs[tc]; !known && len(sum.Configs) >= MaxTeamConfigs {
			// A broken upstream must not create unbounded series.
			tc = TeamConfig{Type: "other", Mode: "other", Estimation: "other", Archived: tc.Archived}
		}
		sum.Total++
		sum.Configs[tc]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// decodeArchived reads a program or period list (full configurations or
// index items) into counts by isArchived.
func decodeArchived(r io.Reader) (*ArchiveCounts, error) {
	ac := &ArchiveCounts{ByArchived: map[string]int{}}
	in := interner{}
	err := decodeList(r, func(s *scanner, first byte) error {
		if first != '{' {
			return notAnObject(s, first)
		}
		archived := ""
		err := s.eachMember(func(key []byte) error {
			if string(key) == "isArchived" {
				var err error
				archived, err = s.archivedValue(in)
				return err
			}
			return s.skipValue()
		})
		if err != nil {
			return err
		}
		ac.Total++
		ac.ByArchived[archived]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ac, nil
}

// versionKeys are tried in order when the version body is an object.
var versionKeys = []string{"version", "modelVersion", "model_version", "apiModelVersion", "value"}

// maxVersionBody bounds the version answer, which is a number or a tiny object.
const maxVersionBody = 64 << 10

// decodeVersion reads the /meta/model/version body: a bare number, a
// numeric string, or an object with a numeric field (a known key first,
// else the only numeric field).
func decodeVersion(r io.Reader) (int, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxVersionBody+1))
	if err != nil {
		return 0, err
	}
	if len(body) > maxVersionBody {
		return 0, &DecodeError{Offset: maxVersionBody, Msg: "version answer is larger than any version body"}
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, &DecodeError{Offset: dec.InputOffset(), Msg: err.Error()}
	}
	// dec.More reports false for a stray '}' or ']', so look at the rest.
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return 0, &DecodeError{Offset: dec.InputOffset(), Msg: "data after the top-level value"}
	}
	if n, ok := versionNumber(v); ok {
		return n, nil
	}
	if obj, ok := v.(map[string]any); ok {
		for _, k := range versionKeys {
			if n, ok := versionNumber(obj[k]); ok {
				return n, nil
			}
		}
		found, count := 0, 0
		for _, val := range obj {
			if n, ok := versionNumber(val); ok {
				found, count = n, count+1
			}
		}
		if count == 1 {
			return found, nil
		}
	}
	return 0, &DecodeError{Msg: "no model version number in the answer"}
}

// versionNumber accepts a JSON number or numeric string holding a
// non-negative integer that fits comfortably in a float64.
func versionNumber(v any) (int, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	return ParseModelVersion(s)
}

// ParseModelVersion parses a model version as sent in the
// X-API-Model-Version header or a version body: a non-negative integer,
// optionally written as a float with no fraction ("9.0").
func ParseModelVersion(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n < 1<<31
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f >= 1<<31 || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}
