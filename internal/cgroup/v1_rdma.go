package cgroup

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Rdma(r *specs.LinuxResources) error {
	return setRdma(m.st.V1["rdma"], r.Rdma)
}

func setRdma(d string, rdma map[string]specs.LinuxRdma) error {
	for dev, l := range rdma {
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return fmt.Errorf("linux.resources.rdma[%q]: not a device name", dev)
		}
		line := dev
		if l.HcaHandles != nil {
			line += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			line += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		if err := writeFile(d, "rdma.max", line); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.rdma[%q]", dev), err)
		}
	}
	return nil
}
