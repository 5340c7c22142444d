package docker

import (
	"bufio"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	registrytypes "github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/storage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	capsaimage "github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/image/archive"
)

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range f {
		switch k {
		case "label", "reference", "dangling", "before", "since":
		default:
			return errdefs.Invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	imgs, err := s.e.Images(r.Context())
	if err != nil {
		return err
	}
	dangling, err := danglingFilter(f["dangling"])
	if err != nil {
		return err
	}
	var before, since time.Time
	for _, b := range []struct {
		key string
		t   *time.Time
	}{{"before", &before}, {"since", &since}} {
		for _, v := range f[b.key] {
			in, err := s.e.ImageInspect(r.Context(), v)
			if err != nil {
				return err
			}
			*b.t = in.Created
		}
	}
	users := s.imageUsers(r)
	out := []image.Summary{}
	for _, in := range imgs {
		if !engine.MatchLabels(in.Config.Config.Labels, f["label"]) {
			continue
		}
		if refs := f["reference"]; len(refs) > 0 && !matchReference(append(slices.Clone(in.Names), in.RepoDigests...), refs) {
			continue
		}
		if dangling != nil && in.Dangling() != *dangling {
			continue
		}
		if !before.IsZero() && !in.Created.Before(before) || !since.IsZero() && !in.Created.After(since) {
			continue
		}
		sm := imageSummary(in, users[in.ID])
		if versionLess(apiVersion(r), "1.43") && len(sm.RepoTags) == 0 && len(sm.RepoDigests) == 0 {
			// Before 1.43 dockerd filled an untagged image's lists with
			// placeholders.
			sm.RepoTags, sm.RepoDigests = []string{"<none>:<none>"}, []string{"<none>@<none>"}
		}
		out = append(out, sm)
	}
	return writeJSON(w, http.StatusOK, out)
}

// danglingFilter reads the dangling filter: nil when it is not given.
func danglingFilter(vs []string) (*bool, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(vs[0]) {
	case "true", "1":
		b = true
	case "false", "0":
	default:
		return nil, errdefs.Invalid(fmt.Sprintf("invalid filter 'dangling=%s'", vs[0]))
	}
	return &b, nil
}

// imageSummary is an image as the list shows it, with the count of its
// containers.
func imageSummary(in engine.ImageInfo, containers int) image.Summary {
	labels := in.Config.Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return image.Summary{
		ID: in.ID, RepoTags: orEmpty(in.Names), RepoDigests: orEmpty(in.RepoDigests), Created: in.Created.Unix(),
		Size: in.Size, Labels: labels, Containers: int64(containers), SharedSize: -1,
	}
}

// orEmpty gives [] for nil, as dockerd's lists are never null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// imageUsers counts the containers of each image ID.
func (s *Server) imageUsers(r *http.Request) map[string]int {
	n := map[string]int{}
	cs, err := s.e.List(r.Context())
	if err == nil {
		for _, c := range cs {
			n[c.ImageID]++
		}
	}
	return n
}

// matchReference matches names against reference filters as docker does:
// a pattern (path.Match) against the name or its repository.
func matchReference(names, refs []string) bool {
	for _, n := range names {
		repo := n
		if i := strings.LastIndex(n, ":"); i >= 0 && !strings.Contains(n[i:], "/") {
			repo = n[:i]
		}
		for _, r := range refs {
			if n == r || repo == r || strings.HasPrefix(n, r+":") {
				return true
			}
			if ok, _ := path.Match(r, n); ok {
				return true
			}
			if ok, _ := path.Match(r, repo); ok {
				return true
			}
		}
	}
	return false
}

// imageGet serves GET /images/{name}/json and /images/{name}/history
// (names hold slashes, so the route takes the rest of the path).
func (s *Server) imageGet(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("name")
	switch {
	case strings.HasSuffix(p, "/json"):
		return s.imageInspect(w, r, strings.TrimSuffix(p, "/json"))
	case strings.HasSuffix(p, "/history"):
		return s.imageHistory(w, r, strings.TrimSuffix(p, "/history"))
	case strings.HasSuffix(p, "/get"):
		return s.imageSave(w, r, []string{strings.TrimSuffix(p, "/get")})
	}
	return errdefs.NotFound("page not found")
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request, name string) error {
	in, err := s.e.ImageInspect(r.Context(), name)
	if err != nil {
		return err
	}
	cfg := in.Config
	resp := image.InspectResponse{
		ID: in.ID, RepoTags: orEmpty(in.Names), RepoDigests: orEmpty(in.RepoDigests), Created: in.Created.UTC().Format(time.RFC3339Nano),
		Author: cfg.Author, Architecture: cfg.Architecture, Os: cfg.OS, Variant: cfg.Variant, Size: in.Size,
		Config:      &dockerspec.DockerOCIImageConfig{ImageConfig: cfg.Config},
		GraphDriver: &storage.DriverData{Name: "overlay", Data: map[string]string{}},
		RootFS:      image.RootFS{Type: "layers", Layers: in.Layers},
	}
	return writeJSON(w, http.StatusOK, resp)
}

// imageHistory answers as dockerd does: newest entry first, the top one
// with the image ID and tags, the others "<missing>" (they are not images
// of their own); Size is the layer's (its blob's, compressed, as capsa's
// image sizes are) for an entry that made one, 0 for an empty_layer one.
func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	in, err := s.e.ImageInspect(r.Context(), name)
	if err != nil {
		return err
	}
	hist := in.Config.History
	items := make([]image.HistoryResponseItem, 0, len(hist))
	layer := 0
	for _, h := range hist {
		item := image.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(in.LayerSizes) {
			item.Size = in.LayerSizes[layer]
			layer++
		}
		items = append(items, item)
	}
	if len(items) == 0 {
		// An image without history: one entry per layer, as dockerd
		// synthesises them.
		for _, sz := range in.LayerSizes {
			items = append(items, image.HistoryResponseItem{ID: "<missing>", Created: in.Created.Unix(), Size: sz})
		}
	}
	slices.Reverse(items)
	if len(items) > 0 {
		items[0].ID, items[0].Tags = in.ID, in.Names
		if len(in.Names) == 0 {
			items[0].Tags = nil
		}
	}
	return writeJSON(w, http.StatusOK, items)
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request) error {
	res, err := s.e.RemoveImage(r.Context(), r.PathValue("name"), boolValue(r, "force"))
	if err != nil {
		return err
	}
	out := []image.DeleteResponse{}
	for _, u := range res.Untagged {
		out = append(out, image.DeleteResponse{Untagged: u})
	}
	for _, d := range res.Deleted {
		out = append(out, image.DeleteResponse{Deleted: d})
	}
	return writeJSON(w, http.StatusOK, out)
}

// imageCreate is POST /images/create: a pull (fromImage) or an import
// from the request body (fromSrc=-).
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromImage") != "" {
		return s.imagePull(w, r)
	}
	src := q.Get("fromSrc")
	if src != "-" {
		return errdefs.Invalid(fmt.Sprintf("import from %q: only fromSrc=- (the request body) is supported", src))
	}
	repo, tag := q.Get("repo"), q.Get("tag")
	name := repo
	if repo != "" && tag != "" {
		name = repo + ":" + tag
	}
	cfg, err := applyChanges(q["changes"])
	if err != nil {
		return err
	}
	body, err := decompressed(r.Body)
	if err != nil {
		return errdefs.Invalid(fmt.Sprintf("import: %v", err))
	}
	ref, err := s.e.ImportImage(r.Context(), name, body, cfg)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(map[string]string{"status": ref.ID})
}

// decompressed reads a tar that may be gzip-compressed (docker import
// takes both).
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// applyChanges reads docker import's --change instructions.
func applyChanges(changes []string) (ocispec.ImageConfig, error) {
	return capsaimage.ApplyChanges(ocispec.ImageConfig{}, changes)
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	all := false
	for _, v := range f["dangling"] {
		all = all || v == "false" || v == "0"
	}
	res, freed, err := s.e.PruneImages(r.Context(), all, f["label"])
	if err != nil && len(res.Deleted) == 0 && len(res.Untagged) == 0 {
		return err
	}
	rep := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}, SpaceReclaimed: uint64(freed)}
	for _, u := range res.Untagged {
		rep.ImagesDeleted = append(rep.ImagesDeleted, image.DeleteResponse{Untagged: u})
	}
	for _, d := range res.Deleted {
		rep.ImagesDeleted = append(rep.ImagesDeleted, image.DeleteResponse{Deleted: d})
	}
	return writeJSON(w, http.StatusOK, rep)
}

// buildPrune answers docker system prune: capsa has no build cache, so
// there is nothing to remove.
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"CachesDeleted": []string{}, "SpaceReclaimed": 0})
}

// imagePull is POST /images/create?fromImage=&tag=: docker's JSON progress
// stream.
func (s *Server) imagePull(w http.ResponseWriter, r *http.Request) (err error) {
	q := r.URL.Query()
	ref := q.Get("fromImage")
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	var platform ocispec.Platform
	if p := q.Get("platform"); p != "" {
		if platform, err = engine.ParsePlatform(p); err != nil {
			return err
		}
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	return progressStream(w, func(progress func(engine.PullProgress)) error {
		_, err := s.e.PullImage(r.Context(), ref, platform, auth, progress)
		return err
	})
}

// imagePost serves POST /images/{name}/tag and /images/{name}/push (names
// hold slashes, so the route takes the rest of the path).
func (s *Server) imagePost(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("name")
	switch {
	case strings.HasSuffix(p, "/tag"):
		return s.imageTag(w, r, strings.TrimSuffix(p, "/tag"))
	case strings.HasSuffix(p, "/push"):
		return s.imagePush(w, r, strings.TrimSuffix(p, "/push"))
	}
	return errdefs.NotFound("page not found")
}

// imageTag is POST /images/{name}/tag?repo=&tag=.
func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	target := q.Get("repo")
	if target == "" {
		return errdefs.Invalid("tag: repo is required")
	}
	if tag := q.Get("tag"); tag != "" {
		target += ":" + tag
	}
	if _, err := s.e.TagImage(r.Context(), name, target); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// imagePush is POST /images/{name}/push?tag=: docker's JSON progress
// stream, ending with an aux message (Tag, Digest, Size) as dockerd's.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	return progressStream(w, func(progress func(engine.PullProgress)) error {
		_, err := s.e.PushImage(r.Context(), ref, auth, progress)
		return err
	})
}

// registryAuth decodes the X-Registry-Auth header (base64url JSON of an
// AuthConfig); nil when there is none.
func registryAuth(r *http.Request) (*engine.RegistryAuth, error) {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "=")); err != nil {
			if b, err = base64.StdEncoding.DecodeString(h); err != nil {
				return nil, errdefs.Invalid(fmt.Sprintf("X-Registry-Auth: %v", err))
			}
		}
	}
	var ac registrytypes.AuthConfig
	if err := json.Unmarshal(b, &ac); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("X-Registry-Auth: %v", err))
	}
	return &engine.RegistryAuth{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}, nil
}

// progressStream runs op and writes the steps it reports as docker's JSON
// progress stream. An error before the first message is the HTTP answer
// (as dockerd's, so that a missing image is a 404); later ones end the
// stream as an error message.
func progressStream(w http.ResponseWriter, op func(progress func(engine.PullProgress)) error) error {
	var mu sync.Mutex
	started := false
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(m any) {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_ = enc.Encode(m)
		if flusher != nil {
			flusher.Flush()
		}
	}
	err := op(func(p engine.PullProgress) {
		m := jsonstream.Message{ID: p.ID, Status: p.Status}
		if p.Total > 0 || p.Current > 0 || p.ID != "" && !strings.HasPrefix(p.Status, "Pulling from ") {
			// A layer's step carries a progressDetail, empty without
			// counts ("Pull complete"), as dockerd's do: a client's
			// display keeps the layer's line for it.
			m.Progress = &jsonstream.Progress{Current: p.Current, Total: p.Total}
		}
		send(m)
	})
	if err == nil {
		return nil
	}
	mu.Lock()
	wasStarted := started
	mu.Unlock()
	if !wasStarted {
		return err
	}
	send(struct {
		ErrorDetail jsonstream.Error `json:"errorDetail"`
		Error       string           `json:"error"`
	}{jsonstream.Error{Message: err.Error()}, err.Error()})
	return nil
}

// imagesGet is GET /images/get?names=a&names=b: a tar of the images.
func (s *Server) imagesGet(w http.ResponseWriter, r *http.Request) error {
	return s.imageSave(w, r, r.URL.Query()["names"])
}

// imageSave streams the archive of names; an error before the first byte
// is an HTTP error, after it the stream is cut short.
func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	if len(names) == 0 {
		return errdefs.Invalid("no image named")
	}
	for _, n := range names {
		if _, err := s.e.ImageInspect(r.Context(), n); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.e.SaveImages(r.Context(), w, names, archive.FormatDocker); err != nil {
		s.log.Error("save images", "names", names, "err", err)
		panic(http.ErrAbortHandler) // cut the stream: a truncated tar, not a silent one
	}
	return nil
}

// imageLoad is POST /images/load: the body is a tar (or a gzip-compressed
// tar); the answer is docker's JSON stream, or plain JSON when quiet.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	body, err := decompressed(r.Body)
	if err != nil {
		return errdefs.Invalid(fmt.Sprintf("load: %v", err))
	}
	names, err := s.e.LoadImages(r.Context(), body)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, n := range names {
		msg := "Loaded image: " + n + "\n"
		if strings.HasPrefix(n, "sha256:") {
			msg = "Loaded image ID: " + n + "\n"
		}
		_ = enc.Encode(map[string]string{"stream": msg})
	}
	return nil
}
