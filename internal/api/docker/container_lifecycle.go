package docker

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
)

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	in, err := s.e.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	if in.State.Status == engine.StatusRunning || in.State.Status == engine.StatusPaused {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := s.e.Start(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopTimeout reads ?t= (docker's seconds; -1 waits forever); absent:
// the container's own.
func stopTimeout(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		v = r.URL.Query().Get("timeout")
	}
	if v == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errdefs.Invalid(fmt.Sprintf("invalid value for t: %q", v))
	}
	if n < 0 {
		return 24 * time.Hour, nil
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	t, err := stopTimeout(r)
	if err != nil {
		return err
	}
	// A bad signal is an error even for a container that does not run.
	if sig := r.URL.Query().Get("signal"); sig != "" {
		if _, err := oci.ParseSignal(sig); err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid signal: %s", sig))
		}
	}
	in, err := s.e.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	if !in.State.Status.Running() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := s.e.StopWithSignal(r.Context(), id, t, r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	t, err := stopTimeout(r)
	if err != nil {
		return err
	}
	if err := s.e.RestartWithSignal(r.Context(), r.PathValue("id"), t, r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.Pause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.Unpause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	if name == "" {
		return errdefs.Invalid("rename: a new name is required")
	}
	if err := s.e.Rename(r.Context(), r.PathValue("id"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// termSize reads ?h=&w=.
func termSize(r *http.Request) (uint16, uint16, error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, errdefs.Invalid("resize: h and w must be numbers from 0 to 65535")
	}
	return uint16(h), uint16(wd), nil
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := termSize(r)
	if err != nil {
		return err
	}
	if err := s.e.Resize(r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	if boolValue(r, "link") {
		return errdefs.Invalid("links are not supported")
	}
	remove := s.e.Remove
	if boolValue(r, "v") {
		remove = s.e.RemoveWithVolumes
	}
	if err := remove(r.Context(), r.PathValue("id"), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	cond := r.URL.Query().Get("condition")
	ready, err := s.e.WaitFor(r.Context(), r.PathValue("id"), cond)
	if err != nil {
		return err
	}
	// The head goes out once the wait is registered: the client may then
	// start the container (docker run).
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, err := ready()
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	}
	return jsonEncode(w, resp)
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	pf := engine.PruneFilter{Labels: f["label"], LabelsNot: f["label!"]}
	if u := f["until"]; len(u) > 0 {
		t, err := parseTimestamp(u[0], time.Now())
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid filter 'until=%s'", u[0]))
		}
		pf.Until = t
	}
	removed, err := s.e.Prune(r.Context(), pf)
	if err != nil && len(removed) == 0 {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	return writeJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: removed})
}
