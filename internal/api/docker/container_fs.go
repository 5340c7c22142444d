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

// archiveTarget is the ?path= of an archive request and the root of the
// container it names.
func (s *Server) archiveTarget(r *http.Request) (root, path string, err error) {
	path = r.URL.Query().Get("path")
	if path == "" {
		return "", "", errdefs.Invalid("path is required: give the path inside the container")
	}
	fs, err := s.e.Filesystem(r.Context(), r.PathValue("id"))
	if err != nil {
		return "", "", err
	}
	return fs.Root, path, nil
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
	root, p, err := s.archiveTarget(r)
	if err != nil {
		return err
	}
	st, err := archive.StatPath(root, p)
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
	root, p, err := s.archiveTarget(r)
	if err != nil {
		return err
	}
	rc, st, err := archive.CopyOut(r.Context(), root, p)
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
	in, err := s.e.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, hc := configs(in); hc.ReadonlyRootfs {
		return errdefs.Permission("container rootfs is marked read-only")
	}
	root, p, err := s.archiveTarget(r)
	if err != nil {
		return err
	}
	err = archive.CopyIn(r.Context(), root, p, r.Body, archive.CopyInOptions{
		NoOverwriteDirNonDir: boolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           boolValue(r, "copyUIDGID"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
