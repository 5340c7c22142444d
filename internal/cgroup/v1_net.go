package cgroup

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Network(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		if err := writeFile(m.st.V1["net_cls"], "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return fieldErr("linux.resources.network.classID", err)
		}
	}
	for i, p := range n.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " \n/") {
			return fmt.Errorf("linux.resources.network.priorities[%d].name %q: not an interface name", i, p.Name)
		}
		if err := writeFile(m.st.V1["net_prio"], "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.network.priorities[%d]", i), err)
		}
	}
	return nil
}
