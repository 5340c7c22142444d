package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// writeError answers with Docker's JSON error form and the status code of
// the error's category: 404 not found, 409 conflict, 400 invalid ...
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errdefs.HTTPStatus(err)
	if errors.Is(err, context.Canceled) {
		status = 499 // the client went away; nobody reads this
	}
	msg := err.Error()
	// Docker's texts for the commonest errors start with a capital, and
	// scripts match on them ("No such container: web").
	for _, p := range []string{"no such container", "no such image", "no such exec instance"} {
		if i := strings.Index(msg, p); i >= 0 && errors.Is(err, errdefs.ErrNotFound) {
			msg = "N" + msg[i+1:]
			break
		}
	}
	if status >= 500 {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decodeBody reads a JSON request body into v; an empty body leaves v
// as it is.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	// dockerd's CheckForJSON; a body without a Content-Type is taken as
	// JSON (dockerd refuses it).
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return errdefs.Invalid(fmt.Sprintf("Content-Type specified (%s) must be 'application/json'", ct))
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	if err := dec.Decode(v); err != nil {
		if err.Error() == "EOF" {
			return nil
		}
		return errdefs.Invalid("invalid JSON body: " + err.Error())
	}
	return nil
}

// boolValue is a query flag as Docker reads it: "", "0", "no", "false",
// "none" are false; anything else true.
func boolValue(r *http.Request, name string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// jsonEncode writes v after the head has been written.
func jsonEncode(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}
