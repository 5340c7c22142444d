package docker

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/capsa-dev/capsa/internal/archive"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.e.Filesystem(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	changes, err := archive.Changes(fs.Upper, fs.Lowers)
	if err != nil {
		return err
	}
	out := []container.FilesystemChange{}
	for _, c := range changes {
		out = append(out, container.FilesystemChange{Path: c.Path, Kind: container.ChangeType(c.Kind)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.e.Filesystem(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	rc, err := archive.Export(r.Context(), fs.Root)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	_, _ = io.Copy(w, rc)
	return nil
}

// fileNotFound is dockerd's message for a path missing in a container
// (docker cp prints it as it is); other errors pass unchanged.
func fileNotFound(err error, path, ref string) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.NotFound(fmt.Sprintf("Could not find the file %s in container %s", path, ref))
	}
	return err
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.Invalid("path is required: give the path inside the container")
	}
	return p, nil
}

func (s *Server) statHeader(w http.ResponseWriter, st archive.PathStat) error {
	v, err := archive.EncodePathStat(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", v)
	return nil
}

func (s *Server) containerArchiveHead(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	fs, err := s.e.Filesystem(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	st, err := archive.StatPath(fs.Root, p)
	if err != nil {
		return fileNotFound(err, p, r.PathValue("id"))
	}
	if err := s.statHeader(w, st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) containerArchiveGet(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	fs, err := s.e.Filesystem(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	rc, st, err := archive.CopyOut(r.Context(), fs.Root, p)
	if err != nil {
		return fileNotFound(err, p, r.PathValue("id"))
	}
	defer rc.Close()
	if err := s.statHeader(w, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc)
	return nil
}

func (s *Server) containerArchivePut(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	in, err := s.e.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	_, hc := configs(in)
	if hc.ReadonlyRootfs {
		return errdefs.Permission("container rootfs is marked read-only")
	}
	fs, err := s.e.Filesystem(r.Context(), in.ID)
	if err != nil {
		return err
	}
	err = archive.CopyIn(r.Context(), fs.Root, p, r.Body, archive.CopyInOptions{
		NoOverwriteDirNonDir: boolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           boolValue(r, "copyUIDGID"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
