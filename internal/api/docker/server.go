// Package docker serves the Docker Engine API over an engine.Engine, so
// that the docker CLI, docker-compose, the Docker SDKs and the capsa CLI
// drive capsa unchanged. One file per resource and operation
// (container_start.go, image_list.go); the translation of Docker's
// container config to the engine's options is in convert.go.
//
// # Versions
//
// Requests may carry a version prefix (/v1.41/containers/json); versions
// from MinAPIVersion to APIVersion are served, as dockerd does, so clients
// from docker 20.10 (API 1.41) to current ones work. A request without a
// prefix is served at APIVersion.
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/version"
)

// API versions served.
const (
	APIVersion    = "1.56"
	MinAPIVersion = "1.24"
)

// Config is what the server needs besides the engine.
type Config struct {
	// InitPath is the --init binary bound into containers.
	InitPath string
	// DataRoot and the runtimes, for info.
	DataRoot       string
	Runtimes       map[string]string
	DefaultRuntime string
	// LogMaxSize and LogMaxFile are the json-file defaults, for info.
	Logger *slog.Logger
}

// Server serves the Docker Engine API.
type Server struct {
	e   *engine.Engine
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	// execKeys maps exec IDs to their detach keys.
	execKeys execKeyMap
}

// New returns a server for e.
func New(e *engine.Engine, cfg Config) *Server {
	s := &Server{e: e, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes()
	return s
}

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	s.handle("GET /_ping", s.ping)
	s.handle("HEAD /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)
	s.handle("GET /events", s.events)
	s.handle("GET /system/df", s.systemDF)

	s.handle("POST /containers/create", s.containerCreate)
	s.handle("GET /containers/json", s.containerList)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("POST /containers/{id}/start", s.containerStart)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/restart", s.containerRestart)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("POST /containers/{id}/pause", s.containerPause)
	s.handle("POST /containers/{id}/unpause", s.containerUnpause)
	s.handle("POST /containers/{id}/rename", s.containerRename)
	s.handle("POST /containers/{id}/update", s.containerUpdate)
	s.handle("POST /containers/{id}/resize", s.containerResize)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("GET /containers/{id}/stats", s.containerStats)
	s.handle("GET /containers/{id}/changes", s.containerChanges)
	s.handle("GET /containers/{id}/export", s.containerExport)
	s.handle("GET /containers/{id}/archive", s.containerArchiveGet)
	s.handle("HEAD /containers/{id}/archive", s.containerArchiveHead)
	s.handle("PUT /containers/{id}/archive", s.containerArchivePut)
	s.handle("DELETE /containers/{id}", s.containerRemove)
	s.handle("POST /containers/prune", s.containerPrune)
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", s.execResize)
	s.handle("GET /exec/{id}/json", s.execInspect)

	s.handle("GET /images/json", s.imageList)
	s.handle("GET /images/get", s.imagesGet) // more specific than /images/{name...}: ServeMux prefers it
	s.handle("POST /images/load", s.imageLoad)
	s.handle("GET /images/{name...}", s.imageGet)
	s.handle("DELETE /images/{name...}", s.imageRemove)
	s.handle("POST /commit", s.commit)
	s.handle("POST /images/create", s.imageCreate)
	s.handle("POST /images/prune", s.imagePrune)
	s.handle("POST /images/{name...}", s.imagePost)
	s.handle("POST /auth", s.auth)
	s.handle("GET /networks", s.networkList)
	s.handle("POST /networks/create", s.networkCreate)
	s.handle("POST /networks/prune", s.networkPrune)
	s.handle("GET /networks/{id}", s.networkInspect)
	s.handle("DELETE /networks/{id}", s.networkRemove)
	s.handle("POST /networks/{id}/connect", s.networkConnect)
	s.handle("POST /networks/{id}/disconnect", s.networkDisconnect)
	s.handle("GET /volumes", s.volumeList)
	s.handle("POST /volumes/create", s.volumeCreate)
	s.handle("POST /volumes/prune", s.volumePrune)
	s.handle("GET /volumes/{name}", s.volumeInspect)
	s.handle("DELETE /volumes/{name}", s.volumeRemove)
	s.handle("POST /build/prune", s.buildPrune)
	// Anything else: dockerd's JSON 404, not net/http's text.
	s.handle("/", func(http.ResponseWriter, *http.Request) error { return errdefs.NotFound("page not found") })
}

type versionKey struct{}

// apiVersion is the version the request was made at.
func apiVersion(r *http.Request) string {
	v, _ := r.Context().Value(versionKey{}).(string)
	if v == "" {
		return APIVersion
	}
	return v
}

// ServeHTTP strips and checks the version prefix and serves the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "capsa/"+version.Version+" (linux)")
	ver := ""
	// "/volumes" is a route, not the version "olumes".
	isVolumes := r.URL.Path == "/volumes" || strings.HasPrefix(r.URL.Path, "/volumes/")
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v"); ok && !isVolumes {
		if i := strings.IndexByte(rest, '/'); i > 0 {
			ver, r.URL.Path = rest[:i], rest[i:]
			r.URL.RawPath = ""
		}
	}
	if ver != "" {
		if !validVersion(ver) {
			s.writeError(w, r, errdefs.Invalid(fmt.Sprintf("invalid API version %q", ver)))
			return
		}
		if versionLess(APIVersion, ver) {
			s.writeError(w, r, errdefs.Invalid(fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", ver, APIVersion)))
			return
		}
		if versionLess(ver, MinAPIVersion) {
			s.writeError(w, r, errdefs.Invalid(fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", ver, MinAPIVersion)))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), versionKey{}, ver))
	}
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "version", ver)
	s.mux.ServeHTTP(w, r)
}

func validVersion(v string) bool {
	maj, min, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	_, e1 := strconv.Atoi(maj)
	_, e2 := strconv.Atoi(min)
	return e1 == nil && e2 == nil
}

// versionLess reports whether API version a is older than b.
func versionLess(a, b string) bool {
	am, an, _ := strings.Cut(a, ".")
	bm, bn, _ := strings.Cut(b, ".")
	x, _ := strconv.Atoi(am)
	y, _ := strconv.Atoi(bm)
	if x != y {
		return x < y
	}
	x, _ = strconv.Atoi(an)
	y, _ = strconv.Atoi(bn)
	return x < y
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", "0")
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

func goArch() string { return runtime.GOARCH }
