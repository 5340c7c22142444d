package docker

import (
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/oci"
)

// containerUpdate is docker update: resources and the restart policy.
func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var req container.UpdateConfig
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	in, err := s.e.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	var opts engine.UpdateOptions
	if err := resources(req.Resources, func(o oci.SpecOpt) { opts.SpecOpts = append(opts.SpecOpts, o) }); err != nil {
		return err
	}
	_, hc := configs(in)
	mergeResources(&hc.Resources, req.Resources)
	if req.RestartPolicy.Name != "" {
		opts.Restart = &engine.RestartPolicy{Name: string(req.RestartPolicy.Name), MaxRetries: req.RestartPolicy.MaximumRetryCount}
		hc.RestartPolicy = req.RestartPolicy
	}
	raw, err := json.Marshal(hc)
	if err != nil {
		return err
	}
	opts.Extensions = map[string]json.RawMessage{}
	for k, v := range in.Extensions {
		opts.Extensions[k] = v
	}
	opts.Extensions[extHostConfig] = raw
	if err := s.e.Update(r.Context(), in.ID, opts); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: []string{}})
}

// mergeResources copies the limits set in upd into hc, for inspect.
func mergeResources(hc *container.Resources, upd container.Resources) {
	if upd.Memory != 0 {
		hc.Memory = upd.Memory
	}
	if upd.MemorySwap != 0 {
		hc.MemorySwap = upd.MemorySwap
	}
	if upd.NanoCPUs != 0 {
		hc.NanoCPUs = upd.NanoCPUs
	}
	if upd.CPUShares != 0 {
		hc.CPUShares = upd.CPUShares
	}
	if upd.CpusetCpus != "" {
		hc.CpusetCpus = upd.CpusetCpus
	}
	if upd.PidsLimit != nil {
		hc.PidsLimit = upd.PidsLimit
	}
}
