// Package jsonwire reads and writes the few JSON shapes of capsa-shim by
// hand: the protocol's lines, exit.json, the runtime's log records, the
// container's json-file log. encoding/json works by reflection, and its
// code and garbage would sit in every shim (one runs per container);
// these helpers allocate little and keep the shim's binary small.
//
// The encoder writes strings byte for byte as encoding/json does. The
// decoder is strict where encoding/json is: a value that is not valid
// JSON, or anything after it, is an error; its callers reject the
// members they do not know.
package jsonwire

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, byte for byte as encoding/json
// writes it (HTML characters, U+2028 and U+2029 escaped; invalid UTF-8
// replaced with U+FFFD, as Docker's encoder does), without its reflection
// and allocations: the shim runs this for every line a container writes.
func AppendString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// maxDepth bounds the nesting of arrays and objects, as encoding/json's
// 10000 does, lower: nothing the shim reads nests deep.
const maxDepth = 1000

// ErrSyntax is wrapped by every error about malformed JSON.
var ErrSyntax = errors.New("invalid JSON")

func syntaxError(data []byte, i int, what string) error {
	if i >= len(data) {
		return fmt.Errorf("%w: unexpected end of input, want %s", ErrSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d, want %s", ErrSyntax, data[i], i, what)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// Valid says whether data is one JSON value, with optional white space
// around it.
func Valid(data []byte) bool {
	end, err := value(data, skipSpace(data, 0), 0)
	return err == nil && skipSpace(data, end) == len(data)
}

// value checks the value that starts at data[i] and returns the offset
// just after it.
func value(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, syntaxError(data, i, "a value")
	}
	switch c := data[i]; {
	case c == '"':
		return stringEnd(data, i)
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == closing {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return i, syntaxError(data, i, "a member's name")
				}
				if i, err = stringEnd(data, i); err != nil {
					return i, err
				}
				if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
					return i, syntaxError(data, i, "':'")
				}
				i = skipSpace(data, i+1)
			}
			if i, err = value(data, i, depth+1); err != nil {
				return i, err
			}
			i = skipSpace(data, i)
			if i < len(data) && data[i] == closing {
				return i + 1, nil
			}
			if i >= len(data) || data[i] != ',' {
				return i, syntaxError(data, i, "',' or '"+string(closing)+"'")
			}
			i = skipSpace(data, i+1)
		}
	case c == '-' || c >= '0' && c <= '9':
		return numberEnd(data, i)
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	}
	return i, syntaxError(data, i, "a value")
}

func literal(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, syntaxError(data, i, lit)
	}
	return i + len(lit), nil
}

// numberEnd checks the number at data[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(data []byte, i int) (int, error) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if data[i] == '-' {
		i++
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if j, ok := digits(i); ok {
		i = j
	} else {
		return i, syntaxError(data, i, "a digit")
	}
	if i < len(data) && data[i] == '.' {
		j, ok := digits(i + 1)
		if !ok {
			return j, syntaxError(data, j, "a digit")
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j, ok := digits(i)
		if !ok {
			return j, syntaxError(data, j, "a digit")
		}
		i = j
	}
	return i, nil
}

// stringEnd checks the string that starts at data[i] (a '"') and returns
// the offset after its closing quote.
func stringEnd(data []byte, i int) (int, error) {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return i, syntaxError(data, i, "a string character")
		case c == '\\':
			i++
			if i >= len(data) {
				return i, syntaxError(data, i, "an escape")
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(data, i+1); !ok {
					return i, syntaxError(data, i, "four hex digits")
				}
				i += 4
			default:
				return i, syntaxError(data, i, "an escape")
			}
		}
	}
	return i, syntaxError(data, i, "'\"'")
}

func hex4(data []byte, i int) (rune, bool) {
	if len(data)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unquote decodes the string value v (quotes included, already checked
// by stringEnd) as encoding/json does: escapes resolved, a lone surrogate
// or invalid UTF-8 replaced with U+FFFD.
func unquote(v []byte) string {
	s := v[1 : len(v)-1]
	plain := true
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' {
			switch e := s[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, _ := hex4(s, i+2)
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
						r2, ok = hex4(s, i+2)
					}
					if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default: // " \ /
				b = append(b, e)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		b = utf8.AppendRune(b, r) // RuneError for invalid bytes
		i += size
	}
	return string(b)
}

// Object calls fn for each member of the JSON object data (white space
// around it allowed), in order: its name, unescaped, and its value's raw
// bytes, already checked to be valid JSON. An error from fn stops it and
// is returned.
func Object(data []byte, fn func(name string, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return syntaxError(data, i, "'{'")
	}
	// Check the whole object first: nothing is reported of an invalid one.
	end, err := value(data, i, 0)
	if err != nil {
		return err
	}
	if j := skipSpace(data, end); j != len(data) {
		return syntaxError(data, j, "the end of the input")
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		nameEnd, _ := stringEnd(data, i)
		name := unquote(data[i:nameEnd])
		i = skipSpace(data, nameEnd)
		i = skipSpace(data, i+1) // ':'
		vEnd, _ := value(data, i, 1)
		if err := fn(name, data[i:vEnd]); err != nil {
			return err
		}
		i = skipSpace(data, vEnd)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // ','
	}
}

// IsNull says whether the value v is null.
func IsNull(v []byte) bool { return string(v) == "null" }

// String decodes a string value (as from Object); null is "".
func String(v []byte) (string, error) {
	if IsNull(v) {
		return "", nil
	}
	if len(v) < 2 || v[0] != '"' {
		return "", fmt.Errorf("%s: want a string", abbrev(v))
	}
	return unquote(v), nil
}

// Bool decodes a boolean value; null is false.
func Bool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("%s: want true or false", abbrev(v))
}

// Int decodes an integer value that fits in bits bits (signed); null is 0.
func Int(v []byte, bits int) (int64, error) {
	if IsNull(v) {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(v), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer of %d bits", abbrev(v), bits)
	}
	return n, nil
}

// Uint decodes an unsigned integer value that fits in bits bits; null is 0.
func Uint(v []byte, bits int) (uint64, error) {
	if IsNull(v) {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s: want an unsigned integer of %d bits", abbrev(v), bits)
	}
	return n, nil
}

// abbrev is v for an error message, cut if long.
func abbrev(v []byte) string {
	if len(v) > 40 {
		return string(v[:37]) + "..."
	}
	return string(v)
}
