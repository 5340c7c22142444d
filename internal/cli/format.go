package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"
)

// templateFuncs are the helpers docker's --format templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) string {
		buf := &bytes.Buffer{}
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    title,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      pad,
	"truncate": truncate,
	"println":  func(args ...any) string { return fmt.Sprintln(args...) },
}

func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) || unicode.IsPunct(prev) {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

func truncate(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// parseTemplate parses a --format template with docker's helpers, and the
// escapes \t and \n written literally on a command line.
func parseTemplate(format string) (*template.Template, error) {
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// formatter renders rows of a listing with a --format value: "table ..."
// (aligned columns under a header line), "json" (one JSON object a line),
// or any other Go template (one rendering a line).
type formatter struct {
	out   io.Writer
	tw    *tabwriter.Writer
	tmpl  *template.Template
	table bool
	rows  int
}

// newFormatter parses format. headers maps each field a row offers to its
// column title, for the header line of a table.
func newFormatter(out io.Writer, format string, headers map[string]string) (*formatter, error) {
	f := &formatter{out: out}
	switch {
	case format == "json":
		format = "{{json .}}"
	case strings.HasPrefix(format, "table"):
		f.table = true
		format = strings.TrimLeft(format[len("table"):], " ")
		f.tw = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		f.out = f.tw
	}
	t, err := parseTemplate(format)
	if err != nil {
		return nil, err
	}
	f.tmpl = t
	if f.table {
		h, err := parseTemplate(format)
		if err != nil {
			return nil, err
		}
		h.Option("missingkey=zero")
		var buf bytes.Buffer
		if err := h.Execute(&buf, headers); err != nil {
			return nil, fmt.Errorf("template parsing error: %w", err)
		}
		// A template of constants only prints no header.
		if s := strings.TrimSpace(buf.String()); s != "" {
			fmt.Fprintln(f.out, strings.TrimRight(buf.String(), "\n"))
		}
	}
	return f, nil
}

// Write renders one row.
func (f *formatter) Write(row any) error {
	var buf bytes.Buffer
	if err := f.tmpl.Execute(&buf, row); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	f.rows++
	s := buf.String()
	if f.table {
		s = strings.TrimRight(s, "\n")
	}
	_, err := fmt.Fprintln(f.out, s)
	return err
}

// Flush writes out a table's aligned columns.
func (f *formatter) Flush() error {
	if f.tw != nil {
		return f.tw.Flush()
	}
	return nil
}

// executeTemplate renders v with a --format template, as inspect, info and
// version do (one value, no table).
func executeTemplate(out io.Writer, format string, v any) error {
	if format == "json" {
		format = "{{json .}}"
	}
	t, err := parseTemplate(format)
	if err != nil {
		return StatusError{Status: err.Error(), StatusCode: 1}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return StatusError{Status: "template: " + err.Error(), StatusCode: 1}
	}
	buf.WriteByte('\n')
	_, err = out.Write(buf.Bytes())
	return err
}
