package cgroup

import (
	"errors"
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Blkio(r *specs.LinuxResources) error {
	b, d := r.BlockIO, m.st.V1["blkio"]
	if b == nil || d == "" {
		return nil
	}
	// With the BFQ scheduler the weight files carry its prefix.
	weight := firstExisting(d, "blkio.weight", "blkio.bfq.weight")
	weightDev := firstExisting(d, "blkio.weight_device", "blkio.bfq.weight_device")
	if b.Weight != nil {
		if weight == "" {
			return fmt.Errorf("linux.resources.blockIO.weight: the blkio controller here has no weight file (no CFQ or BFQ I/O scheduler)")
		}
		if err := writeFile(d, weight, strconv.Itoa(int(*b.Weight))); err != nil {
			return fieldErr("linux.resources.blockIO.weight", err)
		}
	}
	hasLeaf := exists(d + "/blkio.leaf_weight")
	noLeaf := errors.New("this kernel's blkio controller has no leaf weight (CFQ, its only user, was removed in Linux 5.0)")
	if b.LeafWeight != nil {
		if !hasLeaf {
			return fmt.Errorf("linux.resources.blockIO.leafWeight: %w", noLeaf)
		}
		if err := writeFile(d, "blkio.leaf_weight", strconv.Itoa(int(*b.LeafWeight))); err != nil {
			return fieldErr("linux.resources.blockIO.leafWeight", err)
		}
	}
	for i, wd := range b.WeightDevice {
		dev := devNum(&wd.Major, &wd.Minor)
		if wd.Weight != nil {
			if weightDev == "" {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d]: the blkio controller here has no weight_device file", i)
			}
			if err := writeFile(d, weightDev, fmt.Sprintf("%s %d", dev, *wd.Weight)); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i), err)
			}
		}
		if wd.LeafWeight != nil {
			if !hasLeaf {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d].leafWeight: %w", i, noLeaf)
			}
			if err := writeFile(d, "blkio.leaf_weight_device", fmt.Sprintf("%s %d", dev, *wd.LeafWeight)); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d].leafWeight", i), err)
			}
		}
	}
	for _, t := range []struct {
		devs  []specs.LinuxThrottleDevice
		file  string
		field string
	}{
		{b.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device", "throttleReadBpsDevice"},
		{b.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device", "throttleWriteBpsDevice"},
		{b.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device", "throttleReadIOPSDevice"},
		{b.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device", "throttleWriteIOPSDevice"},
	} {
		for i, td := range t.devs {
			if err := writeFile(d, t.file, fmt.Sprintf("%s %d", devNum(&td.Major, &td.Minor), td.Rate)); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i), err)
			}
		}
	}
	return nil
}
