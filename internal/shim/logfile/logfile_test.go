package logfile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 1, 2, 3, 450000000, time.FixedZone("X", 3600))

func newWriter(t *testing.T, cfg Config) *Writer {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "c-json.log")
	}
	w, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return t0 }
	t.Cleanup(func() { w.Close() })
	return w
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestEntryFormat(t *testing.T) {
	got := string(appendEntry(nil, "stderr", []byte("a \"q\"\t\x00\xff\n"), t0))
	want := `{"log":"a \"q\"\t\u0000\ufffd\n","stream":"stderr","time":"2026-11-25T00:02:03.45Z"}` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStreamSplit(t *testing.T) {
	long := strings.Repeat("x", MaxLine)
	tests := []struct {
		name   string
		writes []string
		flush  bool
		want   []string // the "log" fields
	}{
		{"one line", []string{"hello\n"}, false, []string{"hello\n"}},
		{"two lines one write", []string{"a\nb\n"}, false, []string{"a\n", "b\n"}},
		{"line across writes", []string{"he", "llo\nwor", "ld\n"}, false, []string{"hello\n", "world\n"}},
		{"unfinished kept", []string{"abc"}, false, nil},
		{"unfinished flushed", []string{"abc"}, true, []string{"abc"}},
		{"empty line", []string{"\n"}, false, []string{"\n"}},
		{"exactly 16K with newline", []string{long[:MaxLine-1] + "\n"}, false, []string{long[:MaxLine-1] + "\n"}},
		{"16K+1 split", []string{long + "\n"}, false, []string{long, "\n"}},
		{"40K split", []string{long + long + "yz\n"}, false, []string{long, long, "yz\n"}},
		{"long without newline, no flush", []string{long + "ab"}, false, []string{long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWriter(t, Config{})
			s := w.Stream("stdout")
			for _, p := range tt.writes {
				if n, err := s.Write([]byte(p)); err != nil || n != len(p) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tt.flush {
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, l := range lines(t, w.cfg.Path) {
				var e Entry
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("bad line %q: %v", l, err)
				}
				if e.Stream != "stdout" || !e.Time.Equal(t0) {
					t.Errorf("entry %+v: want stream stdout, time %v", e, t0)
				}
				got = append(got, e.Log)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %d entries %.60q, want %d %.60q", len(got), got, len(tt.want), tt.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c-json.log")
	entry := len(appendEntry(nil, "stdout", []byte("line 00\n"), t0))
	// Three entries fit before the size check fires.
	w := newWriter(t, Config{Path: p, MaxSize: int64(3 * entry), MaxFiles: 3})
	s := w.Stream("stdout")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(s, "line %02d\n", i)
	}
	// 20 lines, 3 per file: live holds 18-19, .1 holds 15-17, .2 holds 12-14.
	want := map[string][]string{"": {"18", "19"}, ".1": {"15", "16", "17"}, ".2": {"12", "13", "14"}}
	for suffix, nums := range want {
		got := lines(t, p+suffix)
		if len(got) != len(nums) {
			t.Fatalf("%s: %d lines, want %d: %q", suffix, len(got), len(nums), got)
		}
		for i, n := range nums {
			if !strings.Contains(got[i], `"line `+n+`\n"`) {
				t.Errorf("%s line %d = %s, want line %s", suffix, i, got[i], n)
			}
		}
	}
	if _, err := os.Stat(p + ".3"); err == nil {
		t.Errorf("%s.3 exists, want at most 3 files", p)
	}
	var all []string
	if err := Read(context.Background(), w.cfg, false, func(e Entry) error {
		all = append(all, strings.TrimSpace(e.Log))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(all, ","); got != "line 12,line 13,line 14,line 15,line 16,line 17,line 18,line 19" {
		t.Errorf("Read = %s", got)
	}
}

func TestRotationOneFileTruncates(t *testing.T) {
	entry := len(appendEntry(nil, "stdout", []byte("line 00\n"), t0))
	w := newWriter(t, Config{MaxSize: int64(2 * entry), MaxFiles: 1})
	s := w.Stream("stdout")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(s, "line %02d\n", i)
	}
	got := lines(t, w.cfg.Path)
	if len(got) != 1 || !strings.Contains(got[0], "line 04") {
		t.Errorf("got %q, want only line 04", got)
	}
	if _, err := os.Stat(w.cfg.Path + ".1"); err == nil {
		t.Errorf("max files 1 made a .1 file")
	}
}

func TestReopenAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	for i := 0; i < 2; i++ {
		w := newWriter(t, Config{Path: p})
		fmt.Fprintf(w.Stream("stderr"), "run %d\n", i)
		w.Close()
	}
	if got := lines(t, p); len(got) != 2 {
		t.Errorf("got %q, want 2 lines", got)
	}
}

// TestFollowAcrossRotation follows the log while a writer rotates it many
// times and checks that every line arrives once, in order.
func TestFollowAcrossRotation(t *testing.T) {
	old := PollInterval
	PollInterval = 5 * time.Millisecond
	defer func() { PollInterval = old }()
	entry := len(appendEntry(nil, "stdout", []byte("line 0000\n"), t0))
	w := newWriter(t, Config{MaxSize: int64(10 * entry), MaxFiles: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 300
	got := make(chan string, n+10)
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, w.cfg, true, func(e Entry) error {
			got <- e.Log
			return nil
		})
	}()
	s := w.Stream("stdout")
	for i := 0; i < n; i++ {
		fmt.Fprintf(s, "line %04d\n", i)
		if i%7 == 0 {
			// Slower than the reader polls: no rotation is skipped.
			time.Sleep(2 * PollInterval)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case l := <-got:
			if want := fmt.Sprintf("line %04d\n", i); l != want {
				t.Fatalf("entry %d = %q, want %q", i, l, want)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d entries followed", i, n)
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Read = %v, want context.Canceled", err)
	}
}

// TestFollowWaitsForFile follows a log that does not exist yet.
func TestFollowWaitsForFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "later.log")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go Read(ctx, Config{Path: p}, true, func(e Entry) error { got <- e.Log; return nil })
	time.Sleep(50 * time.Millisecond)
	w := newWriter(t, Config{Path: p})
	fmt.Fprintln(w.Stream("stdout"), "late")
	select {
	case l := <-got:
		if l != "late\n" {
			t.Errorf("got %q", l)
		}
	case <-ctx.Done():
		t.Fatal("nothing followed")
	}
}

func BenchmarkAppendEntry(b *testing.B) {
	line := []byte("2026-01-02 12:00:00 INFO a typical log line with <some> \"quotes\" and é\n")
	buf := make([]byte, 0, 256)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf = appendEntry(buf[:0], "stdout", line, now)
	}
}
