package jsonwire

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestAppendStringMatchesEncodingJSON: the hand-written encoder writes what
// encoding/json writes, for every byte, for text, and for invalid UTF-8.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	inputs := []string{"", "hello\n", "tab\there \"quoted\" back\\slash", "<a href=x>&amp;</a>",
		"é ü 日本語 🐳", "\u2028\u2029", "\xff\xfe bad", "trunc \xe6\x97", "\x00\x01\x1f\x7f", "\r\n\b\f"}
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	inputs = append(inputs, string(all))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			if rng.IntN(4) == 0 {
				b[j] = byte(rng.IntN(256))
			} else {
				const alphabet = "ab<&\"\\\n\xe2\x80\xa8\xc3"
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		want, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, []byte(in)); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

var validityCases = []string{
	`{}`, ` { } `, `[]`, `[1,2,3]`, `{"a":1}`, `{"a":{"b":[true,false,null]}}`, `"x"`, `0`, `-0`, `1.5`, `-1.5e10`,
	`1E+2`, `1e-2`, `"\u00e9\n\"\\\/"`, `"\ud83d\udc33"`, `"\ud83d"`, "\"\xff\"",
	``, ` `, `{`, `}`, `[`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `{'a':1}`, `01`, `1.`, `.5`, `-`, `1e`,
	`+1`, `tru`, `nul`, `True`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"a\nb\"", `{"a":1}x`, `{} {}`,
	`[1 2]`, `{"a" 1}`, `NaN`, `Infinity`, strings.Repeat("[", 1001) + strings.Repeat("]", 1001),
	strings.Repeat("[", 999) + strings.Repeat("]", 999),
}

// TestValidMatchesEncodingJSON: what is valid is what encoding/json
// accepts (but for nesting beyond maxDepth), on fixed and random inputs.
func TestValidMatchesEncodingJSON(t *testing.T) {
	inputs := append([]string{}, validityCases...)
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = `{}[]:,"\ u0e1-.+tfnrlasE9 ` + "\t\n\x01\xff"
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(12))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		want := json.Valid([]byte(in))
		if strings.Count(in, "[") > maxDepth {
			want = false
		}
		if got := Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestStringMatchesEncodingJSON: String decodes as encoding/json does,
// escapes, surrogates and invalid UTF-8 included.
func TestStringMatchesEncodingJSON(t *testing.T) {
	inputs := []string{`""`, `"plain"`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\ud83d\udc33"`, `"\ud83d"`, `"\ud83dx"`,
		`"\udc33\ud83d"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", "\"é \xe6\x97\"", `"\u0000"`, `null`}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 5000; i++ {
		b := []byte{'"'}
		for j := rng.IntN(10); j > 0; j-- {
			switch rng.IntN(5) {
			case 0:
				b = append(b, []string{`\ud83d`, `\udc33`, `\u00e9`, `\n`, `\\`, `\"`}[rng.IntN(6)]...)
			case 1:
				b = append(b, byte(0x80+rng.IntN(0x80)))
			default:
				b = append(b, "aé<"[rng.IntN(4)])
			}
		}
		inputs = append(inputs, string(append(b, '"')))
	}
	for _, in := range inputs {
		if !json.Valid([]byte(in)) {
			continue
		}
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		got, err := String([]byte(in))
		if err != nil || got != want {
			t.Errorf("String(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestObject(t *testing.T) {
	type member struct{ name, value string }
	tests := []struct {
		in      string
		want    []member
		wantErr bool
	}{
		{`{}`, nil, false},
		{` {"a" : 1 , "b":"x", "c":{"d":[1,{"e":null}]}, "a":true} `,
			[]member{{"a", "1"}, {"b", `"x"`}, {"c", `{"d":[1,{"e":null}]}`}, {"a", "true"}}, false},
		{`{"\u0061\n":1}`, []member{{"a\n", "1"}}, false},
		{`[1]`, nil, true},
		{`"x"`, nil, true},
		{`{"a":1`, nil, true},
		{`{"a":1} {}`, nil, true},
		{`{"a":1,"b":[}`, nil, true},
		{``, nil, true},
	}
	for _, tt := range tests {
		var got []member
		err := Object([]byte(tt.in), func(name string, v []byte) error {
			got = append(got, member{name, string(v)})
			return nil
		})
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Object(%q) = %v, %v; want %v (error: %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("Object(%q): error %v does not wrap ErrSyntax", tt.in, err)
		}
	}
	stop := errors.New("stop")
	if err := Object([]byte(`{"a":1,"b":2}`), func(string, []byte) error { return stop }); err != stop {
		t.Errorf("Object returned %v, want fn's error", err)
	}
}

func TestScalars(t *testing.T) {
	if b, err := Bool([]byte("true")); !b || err != nil {
		t.Errorf("Bool(true) = %v, %v", b, err)
	}
	if b, err := Bool([]byte("null")); b || err != nil {
		t.Errorf("Bool(null) = %v, %v", b, err)
	}
	if _, err := Bool([]byte(`"true"`)); err == nil {
		t.Error(`Bool("true"): want an error`)
	}
	for _, tt := range []struct {
		in   string
		bits int
		want uint64
		ok   bool
	}{
		{"0", 16, 0, true}, {"65535", 16, 65535, true}, {"65536", 16, 0, false}, {"-1", 16, 0, false},
		{"1.0", 16, 0, false}, {"1e2", 16, 0, false}, {`"5"`, 16, 0, false}, {"null", 16, 0, true},
	} {
		got, err := Uint([]byte(tt.in), tt.bits)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Uint(%s, %d) = %d, %v; want %d (ok %v)", tt.in, tt.bits, got, err, tt.want, tt.ok)
		}
	}
	if n, err := Int([]byte("-42"), 64); n != -42 || err != nil {
		t.Errorf("Int(-42) = %d, %v", n, err)
	}
	if _, err := String([]byte("5")); err == nil {
		t.Error("String(5): want an error")
	}
}
