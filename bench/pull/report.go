package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capsa-dev/capsa/bench/internal/benchhost"
)

// goalFactor is the goal: capsa at most 0.7 x podman's median.
const goalFactor = 0.7

// row is one figure of one tool: the sum of its first steps ("pull",
// then "pull+create"), per iteration.
type row struct {
	tool string
	what string
	d    []time.Duration
}

// label is the row's name in the table: "capsa pull+create",
// "skopeo copy+umoci unpack".
func (r *row) label() string { return r.tool + " " + r.what }

// median in seconds; NaN when the row has no figure.
func (r *row) median() float64 {
	if r == nil {
		return math.NaN()
	}
	return benchhost.Median(benchhost.Seconds(r.d))
}

type results struct {
	rows  []*row
	notes []string
}

// addTool adds t's rows: one per step, each the sum of the steps so far.
func (r *results) addTool(t *tool) {
	for k := range t.steps {
		r.rows = append(r.rows, &row{tool: t.name, what: strings.Join(t.steps[:k+1], "+")})
	}
}

// record adds one iteration of t: its steps' times, summed as the rows
// are.
func (r *results) record(t *tool, steps []time.Duration) {
	var sum time.Duration
	k := 0
	for _, rw := range r.rows {
		if rw.tool != t.name {
			continue
		}
		sum += steps[k]
		rw.d = append(rw.d, sum)
		k++
	}
}

func (r *results) find(tool, what string) *row {
	for _, rw := range r.rows {
		if rw.tool == tool && rw.what == what {
			return rw
		}
	}
	return nil
}

// ratio formats a over b: "-" when either is missing.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func seconds(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

// table writes the rows: runs, median, min and max in seconds, and each
// median over podman's pull and over podman's pull+create.
func (r *results) table(w io.Writer) {
	podPull := r.find("podman", "pull").median()
	podCreate := r.find("podman", "pull+create").median()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\truns\tmedian s\tmin s\tmax s\t/ podman pull\t/ podman pull+create\t")
	for _, rw := range r.rows {
		xs := benchhost.Seconds(rw.d)
		lo, hi := benchhost.Spread(xs)
		med := benchhost.Median(xs)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", rw.label(), len(xs), seconds(med), seconds(lo), seconds(hi), ratio(med, podPull), ratio(med, podCreate))
	}
	tw.Flush()
}

// goal says whether capsa met the goal. The figures compared both
// include unpacking whatever capsa's pull does: capsa pull+create against
// podman pull+create (podman's pull unpacks; its create only adds the
// container's layer).
func (r *results) goal() string {
	capsa := r.find("capsa", "pull+create").median()
	podman := r.find("podman", "pull+create").median()
	switch {
	case math.IsNaN(capsa):
		return fmt.Sprintf("goal: capsa ≤ %.1f× podman: not measured (no capsa figure: not built, not in -tools, or failed)", goalFactor)
	case math.IsNaN(podman):
		return fmt.Sprintf("goal: capsa ≤ %.1f× podman: not measured (no podman figure: not installed, not in -tools, or failed)", goalFactor)
	case capsa <= goalFactor*podman:
		return fmt.Sprintf("goal: capsa ≤ %.1f× podman: met (pull+create %.2f s ≤ %.2f s = %.1f × %.2f s; %s)", goalFactor, capsa, goalFactor*podman, goalFactor, podman, ratio(capsa, podman))
	}
	return fmt.Sprintf("goal: capsa ≤ %.1f× podman: not met (pull+create %.2f s > %.2f s = %.1f × %.2f s; %s)", goalFactor, capsa, goalFactor*podman, goalFactor, podman, ratio(capsa, podman))
}

func (r *results) print(w io.Writer) {
	fmt.Fprintln(w, "\npull from the local registry into an empty store, wall time of the CLI (pull+create: the sum of both):")
	r.table(w)
	fmt.Fprintf(w, "capsa pull alone / podman pull: %s\n", ratio(r.find("capsa", "pull").median(), r.find("podman", "pull").median()))
	for _, n := range r.notes {
		fmt.Fprintln(w, "note: "+n)
	}
	fmt.Fprintln(w, r.goal())
}
