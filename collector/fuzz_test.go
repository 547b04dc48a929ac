package collector

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseScrapeTimeout: the header comes from whoever can reach
// /metrics. No value may panic, make a non-positive or unbounded timeout,
// or a deadline outside [now, now + --ativo.timeout]. Seeds live in
// testdata/fuzz/FuzzParseScrapeTimeout/ and below.
func FuzzParseScrapeTimeout(f *testing.F) {
	for _, s := range []string{
		"", "10", "9.5", " 3 ", "0", "0.5", "-3", "abc", "NaN", "+Inf", "-Inf", "1e400", "1e-400",
		"0x1p3", "1_0", "31536000", "31536001", "4.9e-324", strings.Repeat("9", 40), "1e9", "\t15\n",
	} {
		f.Add(s)
	}
	now := time.Unix(1_780_000_000, 0)
	const timeout, offset = 10 * time.Second, 500 * time.Millisecond
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := ParseScrapeTimeout(h)
		if ok {
			// A positive value below 1 ns rounds to 0, which is harmless
			// (not above the offset); a negative one would not be.
			if d < 0 {
				t.Fatalf("%q: negative timeout %v", h, d)
			}
			if d > 365*24*time.Hour {
				t.Fatalf("%q: timeout %v above a year", h, d)
			}
			secs, err := strconv.ParseFloat(strings.TrimSpace(h), 64)
			if err != nil || math.IsNaN(secs) || secs <= 0 {
				t.Fatalf("%q accepted as %v but ParseFloat says %v, %v", h, d, secs, err)
			}
		} else if d != 0 {
			t.Fatalf("%q: rejected but returned %v", h, d)
		}
		dl := Deadline(now, h, timeout, offset)
		if dl.Before(now) || dl.After(now.Add(timeout)) {
			t.Fatalf("%q: deadline %v outside [now, now+%v]", h, dl.Sub(now), timeout)
		}
	})
}
