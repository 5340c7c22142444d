package docker

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types/container"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return errdefs.Invalid("no exec command specified")
	}
	if _, err := parseDetachKeys(req.DetachKeys); err != nil {
		return err
	}
	id, err := s.e.ExecCreate(r.Context(), r.PathValue("id"), engine.ExecConfig{
		Cmd: req.Cmd, Env: req.Env, User: req.User, WorkingDir: req.WorkingDir, Tty: req.Tty,
		AttachStdin: req.AttachStdin, AttachStdout: req.AttachStdout, AttachStderr: req.AttachStderr,
		Privileged: req.Privileged,
	})
	if err != nil {
		return err
	}
	s.execKeys.Store(id, req.DetachKeys)
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var req container.ExecStartRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	in, err := s.e.ExecInspect(r.Context(), id)
	if err != nil {
		return err
	}
	opts := engine.ExecStartOptions{Detach: req.Detach}
	if req.ConsoleSize != nil {
		opts.Rows, opts.Cols = uint16(req.ConsoleSize[0]), uint16(req.ConsoleSize[1])
	}
	if req.Detach {
		sc, err := s.e.ExecStart(r.Context(), id, opts)
		if err != nil {
			return err
		}
		if sc != nil {
			sc.Close()
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// Errors of the exec's state are answered in JSON. The process's own
	// start error (command not found) goes on the stream's stdout, as
	// dockerd writes it, and its exit code (126/127) is the exec's: the
	// client shows it and then reads the code from exec inspect.
	sc, err := s.e.ExecStart(context.WithoutCancel(r.Context()), id, opts)
	if err != nil && (errors.Is(err, errdefs.ErrConflict) || errors.Is(err, errdefs.ErrNotFound)) {
		return err
	}
	if sc != nil {
		defer sc.Close()
	}
	spec, _ := s.execKeys.Load(id)
	keysSpec, _ := spec.(string)
	keys, _ := parseDetachKeys(keysSpec)
	q := streams{stdin: in.Config.AttachStdin, stdout: in.Config.AttachStdout, stderr: in.Config.AttachStderr, tty: in.Config.Tty}
	conn, br, herr := hijack(w, r, !q.tty)
	if herr != nil {
		if err != nil {
			return err
		}
		return herr
	}
	defer conn.Close()
	var mu sync.Mutex
	out, errw := q.writers(conn, &mu)
	if err != nil {
		if q.stdout {
			_, _ = out.Write([]byte(err.Error() + "\r\n"))
		} else {
			_, _ = errw.Write([]byte(err.Error() + "\r\n"))
		}
		return nil
	}
	pump(conn, br, sc, q, keys, out, errw)
	return nil
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := termSize(r)
	if err != nil {
		return err
	}
	if err := s.e.ExecResize(r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	in, err := s.e.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	resp := container.ExecInspectResponse{
		ID: in.ID, Running: in.Running, ExitCode: in.ExitCode, CanRemove: in.CanRemove,
		ContainerID: in.ContainerID, Pid: in.Pid,
		OpenStdin: in.Config.AttachStdin, OpenStdout: in.Config.AttachStdout, OpenStderr: in.Config.AttachStderr,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: in.Config.Tty, User: in.Config.User, Privileged: &in.Config.Privileged,
		},
	}
	if len(in.Config.Cmd) > 0 {
		resp.ProcessConfig.Entrypoint, resp.ProcessConfig.Arguments = in.Config.Cmd[0], in.Config.Cmd[1:]
	}
	return writeJSON(w, http.StatusOK, resp)
}

// execKeys keeps each exec's detach keys until it starts.
type execKeyMap = sync.Map
