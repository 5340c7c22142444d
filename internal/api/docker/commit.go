package docker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// commitConfig is the part of a container.Config that POST /commit's body
// may override in the new image.
type commitConfig struct {
	Cmd          []string
	Entrypoint   []string
	Env          []string
	Labels       map[string]string
	WorkingDir   string
	User         string
	StopSignal   string
	ExposedPorts map[string]struct{}
	Volumes      map[string]struct{}
}

// commit serves POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=.
func (s *Server) commit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ctr := q.Get("container")
	if ctr == "" {
		return errdefs.Invalid("commit: no container given")
	}
	name := q.Get("repo")
	if name != "" && q.Get("tag") != "" {
		name += ":" + q.Get("tag")
	}
	opts := engine.CommitOptions{
		Name: name, Author: q.Get("author"), Message: q.Get("comment"), Changes: q["changes"],
		// docker's default is to pause; its client sends pause=0 to not.
		Pause: q.Get("pause") == "" || boolValue(r, "pause"),
	}
	var body *commitConfig
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		return errdefs.Invalid(fmt.Sprintf("commit: config: %v", err))
	}
	if body != nil {
		opts.Config = &ocispec.ImageConfig{
			Cmd: body.Cmd, Entrypoint: body.Entrypoint, Env: body.Env, Labels: body.Labels,
			WorkingDir: body.WorkingDir, User: body.User, StopSignal: body.StopSignal,
			ExposedPorts: body.ExposedPorts, Volumes: body.Volumes,
		}
	}
	ref, err := s.e.CommitContainer(r.Context(), ctr, opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": ref.ID})
}
