package cgroup

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Hugetlb writes hugetlb.<size>.max.
func (m *manager) v2Hugetlb(r *specs.LinuxResources, w v2Writer) error {
	for i, h := range r.HugepageLimits {
		if err := checkPageSize(h.Pagesize); err != nil {
			return fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize: %w", i, err)
		}
		if err := w(fmt.Sprintf("linux.resources.hugepageLimits[%d]", i), "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	return nil
}
