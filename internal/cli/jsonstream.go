package cli

import (
	"encoding/json"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
)

// newJSONMessageDecoder returns a function that reads the next message of
// a daemon's JSON progress stream.
func newJSONMessageDecoder(r io.Reader) func() (jsonstream.Message, error) {
	dec := json.NewDecoder(r)
	return func() (jsonstream.Message, error) {
		var m jsonstream.Message
		err := dec.Decode(&m)
		return m, err
	}
}
