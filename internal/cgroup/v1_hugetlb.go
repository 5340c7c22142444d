package cgroup

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Hugetlb(r *specs.LinuxResources) error {
	d := m.st.V1["hugetlb"]
	for i, h := range r.HugepageLimits {
		if err := checkPageSize(h.Pagesize); err != nil {
			return fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize: %w", i, err)
		}
		if err := writeFile(d, "hugetlb."+h.Pagesize+".limit_in_bytes", strconv.FormatUint(h.Limit, 10)); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.hugepageLimits[%d]", i), err)
		}
	}
	return nil
}

// checkPageSize accepts hugetlb page size names like "2MB" or "1GB".
func checkPageSize(s string) error {
	n := strings.TrimRight(s, "KMGB")
	if n == "" || n == s || strings.ContainsAny(n, "/.") {
		return fmt.Errorf("%q is not a page size like 2MB", s)
	}
	if _, err := strconv.ParseUint(n, 10, 32); err != nil {
		return fmt.Errorf("%q is not a page size like 2MB", s)
	}
	return nil
}
