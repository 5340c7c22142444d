package cli

import (
	"fmt"
	"strings"

	"github.com/moby/moby/client"
)

// listValue is a repeatable string flag (--filter a=b --filter c=d).
type listValue struct{ v *[]string }

func newListValue(v *[]string) *listValue { return &listValue{v: v} }

func (l *listValue) String() string     { return "" }
func (l *listValue) Set(s string) error { *l.v = append(*l.v, s); return nil }
func (l *listValue) Type() string       { return "filter" }

// parseFilters turns --filter key=value values into the API's filters.
func parseFilters(values []string) (client.Filters, error) {
	f := client.Filters{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, StatusError{Status: fmt.Sprintf("invalid argument %q for \"-f, --filter\" flag: bad format of filter (expected name=value)", v), StatusCode: 125}
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(val))
	}
	return f, nil
}
