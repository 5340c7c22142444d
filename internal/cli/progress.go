package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
)

// The moby client module has this renderer (pkg/jsonmessage), but it
// brings github.com/moby/term, which capsa's module graph does not hold;
// this is the same display in a few lines, so that pull, push and load
// look as docker's.

// ANSI sequences the terminal display uses.
const (
	ansiEraseLine = "\x1b[2K"
	ansiCursorUp  = "\x1b[%dA"
	ansiCursorDwn = "\x1b[%dB"
)

// progressDisplay renders a daemon's JSON progress stream as docker's CLI
// does. On a terminal each layer (message ID) with progress owns a line,
// rewritten in place: the cursor goes up to it, the line is erased and
// redrawn with its status and bar ("ID: Downloading [==>   ] 1MB/4MB"),
// and the cursor comes back down. Off a terminal byte counts are left out
// and every other message is one plain line.
type progressDisplay struct {
	out      io.Writer
	terminal bool
	// width is the terminal's; bars are drawn only above 110 columns.
	width int
	quiet bool
	// lines numbers the IDs shown since the last message without one.
	lines map[string]int
	now   func() time.Time
}

func newProgressDisplay(out io.Writer, terminal bool, width int, quiet bool) *progressDisplay {
	if width <= 0 {
		width = 200
	}
	return &progressDisplay{out: out, terminal: terminal, width: width, quiet: quiet, lines: map[string]int{}, now: time.Now}
}

// displayProgressStream reads messages from r until EOF and shows them;
// an error message ends it with that error.
func displayProgressStream(r io.Reader, out io.Writer, terminal bool, width int, quiet bool) error {
	p := newProgressDisplay(out, terminal, width, quiet)
	dec := newJSONMessageDecoder(r)
	for {
		msg, err := dec()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("the daemon closed the progress stream before the end (did capsad stop? see its log)")
		}
		if err != nil {
			return err
		}
		if err := p.show(msg); err != nil {
			return err
		}
	}
}

// show displays one message.
func (p *progressDisplay) show(m jsonstream.Message) error {
	if m.Error != nil {
		return StatusError{Status: m.Error.Message, StatusCode: 1}
	}
	if p.quiet || m.Aux != nil {
		return nil
	}
	diff := 0
	if m.ID != "" && m.Progress != nil {
		line, ok := p.lines[m.ID]
		if !ok {
			line = len(p.lines)
			p.lines[m.ID] = line
			if p.terminal {
				fmt.Fprint(p.out, "\n")
			}
		}
		diff = len(p.lines) - line
		if p.terminal && diff > 0 {
			fmt.Fprintf(p.out, ansiCursorUp, diff)
		}
	} else {
		// Something else than a layer's step: later steps start below it.
		p.lines = map[string]int{}
	}
	p.line(m)
	if m.ID != "" && p.terminal && diff > 0 {
		fmt.Fprintf(p.out, ansiCursorDwn, diff)
	}
	return nil
}

// line writes a message's text: on a terminal a step is redrawn in place
// (erase, carriage return, no newline); off one a step with byte counts
// is skipped.
func (p *progressDisplay) line(m jsonstream.Message) {
	endl := ""
	if p.terminal && m.Stream == "" && m.Progress != nil {
		fmt.Fprint(p.out, ansiEraseLine+"\r")
		endl = "\r"
	} else if m.Progress != nil && (m.Progress.Current > 0 || m.Progress.Total > 0) {
		return
	}
	if m.ID != "" {
		fmt.Fprintf(p.out, "%s: ", m.ID)
	}
	switch {
	case m.Progress != nil && p.terminal:
		fmt.Fprintf(p.out, "%s %s%s", m.Status, renderProgress(*m.Progress, p.width, p.now()), endl)
	case m.Stream != "":
		fmt.Fprintf(p.out, "%s%s", m.Stream, endl)
	default:
		fmt.Fprintf(p.out, "%s%s\n", m.Status, endl)
	}
}

// renderProgress is docker's bar: "[=====>      ] 12.3MB/40MB", the bar
// only on terminals wider than 110 columns, the time left when the
// message gives a start.
func renderProgress(pr jsonstream.Progress, width int, now time.Time) string {
	if pr.Current <= 0 && pr.Total <= 0 {
		return ""
	}
	if pr.Total <= 0 {
		if pr.Units == "" {
			return fmt.Sprintf("%8v", units.HumanSize(float64(pr.Current)))
		}
		return fmt.Sprintf("%d %s", pr.Current, pr.Units)
	}
	pct := min(int(float64(pr.Current)/float64(pr.Total)*100)/2, 50)
	bar := ""
	if width > 110 {
		bar = fmt.Sprintf("[%s>%s] ", strings.Repeat("=", pct), strings.Repeat(" ", max(50-pct, 0)))
	}
	numbers := ""
	switch {
	case pr.HideCounts:
	case pr.Units == "":
		cur, total := units.HumanSize(float64(pr.Current)), units.HumanSize(float64(pr.Total))
		numbers = fmt.Sprintf("%8v/%v", cur, total)
		if pr.Current > pr.Total {
			numbers = fmt.Sprintf("%8v", cur)
		}
	default:
		numbers = fmt.Sprintf("%d/%d %s", pr.Current, pr.Total, pr.Units)
		if pr.Current > pr.Total {
			numbers = fmt.Sprintf("%d %s", pr.Current, pr.Units)
		}
	}
	left := ""
	if width > 50 && pr.Current > 0 && pr.Start > 0 && pct < 50 {
		per := now.UTC().Sub(time.Unix(pr.Start, 0)) / time.Duration(pr.Current)
		left = " " + (time.Duration(pr.Total-pr.Current) * per).Round(time.Second).String()
	}
	return bar + numbers + left
}
