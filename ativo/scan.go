package ativo

import (
	"errors"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small streaming JSON reader. It reads through a fixed buffer,
// so memory stays flat whatever the size of the body, and it decodes only
// the handful of fields the exporter needs; everything else is checked for
// syntax and skipped without being stored. encoding/json's Decoder would
// have to build every item in memory, which costs an order of magnitude
// more CPU on a large team list.
type scanner struct {
	r     io.Reader
	buf   []byte
	pos   int
	end   int
	off   int64 // bytes consumed before buf[0]
	err   error // sticky read error (io.EOF at the end)
	depth int
	// scratch holds the most recent string read with keep=true; it is
	// reused so that reading keys costs no allocation.
	scratch []byte
}

const (
	scanBufSize  = 32 << 10
	maxScanDepth = 256
	// maxKeptString bounds how much of a string is kept; longer values
	// are only skipped (label values above 64 bytes become "other").
	maxKeptString = 256
)

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, scanBufSize), scratch: make([]byte, 0, 64)}
}

func (s *scanner) offset() int64 { return s.off + int64(s.pos) }

func (s *scanner) syntaxError(msg string) error {
	return &DecodeError{Offset: s.offset(), Msg: msg}
}

// fill reads more input, keeping the unread bytes; it returns false at
// the end of input or on a read error (kept in s.err).
func (s *scanner) fill() bool {
	if s.err != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.off += int64(s.pos)
		s.pos, s.end = 0, n
	}
	for empty := 0; ; empty++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
		if empty > 100 {
			s.err = io.ErrNoProgress
			return false
		}
	}
}

// ensure makes at least n unread bytes available if the input has them.
func (s *scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// eofError turns the end of input in the middle of a value into an error:
// the read error if there was one (a cut connection, the size cap, a
// deadline), a syntax error if the body simply ended.
func (s *scanner) eofError() error {
	if s.err != nil && !errors.Is(s.err, io.EOF) {
		return s.err
	}
	return s.syntaxError("unexpected end of JSON input")
}

// peek returns the next non-space byte without consuming it.
func (s *scanner) peek() (byte, error) {
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return c, nil
			}
			s.pos++
		}
		if !s.fill() {
			return 0, s.eofError()
		}
	}
}

// next consumes and returns the next non-space byte.
func (s *scanner) next() (byte, error) {
	c, err := s.peek()
	if err == nil {
		s.pos++
	}
	return c, err
}

// expect consumes the next non-space byte and checks it.
func (s *scanner) expect(want byte, msg string) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != want {
		s.pos--
		return s.syntaxError(msg)
	}
	return nil
}

// atEnd reports whether only whitespace remains.
func (s *scanner) atEnd() error {
	_, err := s.peek()
	if err == nil {
		return s.syntaxError("data after the top-level value")
	}
	if s.err != nil && errors.Is(s.err, io.EOF) {
		return nil
	}
	return err
}

// skipBOM drops a UTF-8 byte order mark at the start of the body.
func (s *scanner) skipBOM() {
	if s.ensure(3) && s.buf[s.pos] == 0xEF && s.buf[s.pos+1] == 0xBB && s.buf[s.pos+2] == 0xBF {
		s.pos += 3
	}
}

// rawByte consumes one byte with no whitespace skipping.
func (s *scanner) rawByte() (byte, error) {
	if s.pos >= s.end && !s.fill() {
		return 0, s.eofError()
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}

// readString reads a string whose opening quote was consumed. With keep,
// the unescaped value is left in s.scratch (at most maxKeptString bytes;
// truncated reports whether more followed).
func (s *scanner) readString(keep bool) (truncated bool, err error) {
	s.scratch = s.scratch[:0]
	for {
		// Fast path: scan the buffer for the closing quote or an escape.
		start := s.pos
		for s.pos < s.end {
			c := s.buf[s.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			s.pos++
		}
		if keep {
			truncated = s.keep(s.buf[start:s.pos]) || truncated
		}
		if s.pos >= s.end {
			if !s.fill() {
				return false, s.eofError()
			}
			continue
		}
		c := s.buf[s.pos]
		s.pos++
		switch {
		case c == '"':
			return truncated, nil
		case c < 0x20:
			s.pos--
			return false, s.syntaxError("control character in string")
		}
		// c == '\\'
		e, err := s.rawByte()
		if err != nil {
			return false, err
		}
		var r rune
		switch e {
		case '"', '\\', '/':
			r = rune(e)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			if r, err = s.readHex4(); err != nil {
				return false, err
			}
			if utf16.IsSurrogate(r) {
				r, err = s.readLowSurrogate(r)
				if err != nil {
					return false, err
				}
			}
		default:
			return false, s.syntaxError("invalid escape in string")
		}
		if keep {
			var b [utf8.UTFMax]byte
			n := utf8.EncodeRune(b[:], r)
			truncated = s.keep(b[:n]) || truncated
		}
	}
}

// readLowSurrogate completes a UTF-16 surrogate pair. A lone surrogate
// becomes U+FFFD and whatever follows it is read on its own, as in
// encoding/json.
func (s *scanner) readLowSurrogate(hi rune) (rune, error) {
	if !s.ensure(6) || s.buf[s.pos] != '\\' || s.buf[s.pos+1] != 'u' {
		return utf8.RuneError, nil
	}
	var lo rune
	for _, c := range s.buf[s.pos+2 : s.pos+6] {
		d, ok := hexDigit(c)
		if !ok {
			return utf8.RuneError, nil // the next read reports the bad escape
		}
		lo = lo<<4 | d
	}
	r := utf16.DecodeRune(hi, lo)
	if r == utf8.RuneError {
		return r, nil
	}
	s.pos += 6
	return r, nil
}

func hexDigit(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}

func (s *scanner) readHex4() (rune, error) {
	var r rune
	for range 4 {
		c, err := s.rawByte()
		if err != nil {
			return 0, err
		}
		d, ok := hexDigit(c)
		if !ok {
			return 0, s.syntaxError("invalid \\u escape")
		}
		r = r<<4 | d
	}
	return r, nil
}

// keep appends to scratch up to maxKeptString bytes; it reports whether
// anything was dropped.
func (s *scanner) keep(b []byte) bool {
	room := maxKeptString - len(s.scratch)
	if len(b) <= room {
		s.scratch = append(s.scratch, b...)
		return false
	}
	if room > 0 {
		s.scratch = append(s.scratch, b[:room]...)
	}
	return true
}

// readLiteral consumes the rest of true, false or null after its first byte.
func (s *scanner) readLiteral(rest string) error {
	for i := 0; i < len(rest); i++ {
		c, err := s.rawByte()
		if err != nil {
			return err
		}
		if c != rest[i] {
			s.pos--
			return s.syntaxError("invalid literal")
		}
	}
	return nil
}

// readNumber consumes a number whose first byte (a digit or '-') was
// consumed, checking JSON's grammar. With keep, its text is left in scratch.
func (s *scanner) readNumber(first byte, keep bool) error {
	s.scratch = s.scratch[:0]
	if keep {
		s.keep([]byte{first})
	}
	// States: 0 after '-', 1 int digits (after nonzero), 2 after leading 0,
	// 3 after '.', 4 frac digits, 5 after 'e', 6 after exponent sign,
	// 7 exponent digits.
	state := 1
	switch first {
	case '-':
		state = 0
	case '0':
		state = 2
	}
	for {
		if s.pos >= s.end && !s.fill() {
			if s.err != nil && !errors.Is(s.err, io.EOF) {
				return s.err
			}
			break
		}
		c := s.buf[s.pos]
		ok := false
		switch state {
		case 0:
			if c == '0' {
				state, ok = 2, true
			} else if c >= '1' && c <= '9' {
				state, ok = 1, true
			}
		case 1, 2:
			switch {
			case state == 1 && c >= '0' && c <= '9':
				ok = true
			case c == '.':
				state, ok = 3, true
			case c == 'e' || c == 'E':
				state, ok = 5, true
			}
		case 3, 4:
			switch {
			case c >= '0' && c <= '9':
				state, ok = 4, true
			case state == 4 && (c == 'e' || c == 'E'):
				state, ok = 5, true
			}
		case 5:
			switch {
			case c == '+' || c == '-':
				state, ok = 6, true
			case c >= '0' && c <= '9':
				state, ok = 7, true
			}
		case 6, 7:
			if c >= '0' && c <= '9' {
				state, ok = 7, true
			}
		}
		if !ok {
			break
		}
		if keep {
			s.keep(s.buf[s.pos : s.pos+1])
		}
		s.pos++
	}
	if state == 0 || state == 3 || state == 5 || state == 6 {
		return s.syntaxError("invalid number")
	}
	return nil
}

// skipValue consumes one value of any type.
func (s *scanner) skipValue() error {
	c, err := s.next()
	if err != nil {
		return err
	}
	return s.skipAfter(c)
}

// skipAfter consumes the rest of a value whose first byte was consumed.
func (s *scanner) skipAfter(c byte) error {
	switch c {
	case '{':
		return s.skipObject()
	case '[':
		return s.eachElement(func() error { return s.skipValue() })
	case '"':
		_, err := s.readString(false)
		return err
	case 't':
		return s.readLiteral("rue")
	case 'f':
		return s.readLiteral("alse")
	case 'n':
		return s.readLiteral("ull")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.readNumber(c, false)
		}
		s.pos--
		return s.syntaxError("invalid character at the start of a value")
	}
}

func (s *scanner) skipObject() error {
	return s.eachMember(func([]byte) error { return s.skipValue() })
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxScanDepth {
		return s.syntaxError("nesting too deep")
	}
	return nil
}

// eachElement iterates an array whose '[' was consumed, calling fn with
// the scanner positioned at each element.
func (s *scanner) eachElement(fn func() error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c == ']' {
		s.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		c, err := s.next()
		if err != nil {
			return err
		}
		switch c {
		case ',':
		case ']':
			return nil
		default:
			s.pos--
			return s.syntaxError("expected ',' or ']' in array")
		}
	}
}

// eachMember iterates an object whose '{' was consumed, calling fn with
// each key (valid only during the call) and the scanner at its value.
func (s *scanner) eachMember(fn func(key []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	c, err := s.next()
	if err != nil {
		return err
	}
	if c == '}' {
		return nil
	}
	for {
		if c != '"' {
			s.pos--
			return s.syntaxError("expected a string key in object")
		}
		if _, err := s.readString(true); err != nil {
			return err
		}
		if err := s.expect(':', "expected ':' after object key"); err != nil {
			return err
		}
		if err := fn(s.scratch); err != nil {
			return err
		}
		if c, err = s.next(); err != nil {
			return err
		}
		switch c {
		case ',':
			if c, err = s.next(); err != nil {
				return err
			}
		case '}':
			return nil
		default:
			s.pos--
			return s.syntaxError("expected ',' or '}' in object")
		}
	}
}
