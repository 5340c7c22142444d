package cgroup

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v2IO(r *specs.LinuxResources, w v2Writer) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	d := m.st.V2
	bfq := exists(d + "/io.bfq.weight")
	if b.Weight != nil {
		file, v := "io.weight", "default "+strconv.FormatUint(BlkioWeightToIOWeight(*b.Weight), 10)
		if bfq {
			// BFQ takes the v1 weight scale as it is.
			file, v = "io.bfq.weight", strconv.Itoa(int(*b.Weight))
		}
		if err := w("linux.resources.blockIO.weight", file, v); err != nil {
			return err
		}
	}
	for i, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		dev := devNum(&wd.Major, &wd.Minor)
		file, v := "io.weight", fmt.Sprintf("%s %d", dev, BlkioWeightToIOWeight(*wd.Weight))
		if bfq {
			file, v = "io.bfq.weight", fmt.Sprintf("%s %d", dev, *wd.Weight)
		}
		if err := w(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i), file, v); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		devs  []specs.LinuxThrottleDevice
		key   string
		field string
	}{
		{b.ThrottleReadBpsDevice, "rbps", "throttleReadBpsDevice"},
		{b.ThrottleWriteBpsDevice, "wbps", "throttleWriteBpsDevice"},
		{b.ThrottleReadIOPSDevice, "riops", "throttleReadIOPSDevice"},
		{b.ThrottleWriteIOPSDevice, "wiops", "throttleWriteIOPSDevice"},
	} {
		for i, td := range t.devs {
			rate := "max"
			if td.Rate != 0 {
				rate = strconv.FormatUint(td.Rate, 10)
			}
			line := fmt.Sprintf("%s %s=%s", devNum(&td.Major, &td.Minor), t.key, rate)
			if err := w(fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i), "io.max", line); err != nil {
				return err
			}
		}
	}
	return nil
}

// BlkioWeightToIOWeight converts a v1 blkio weight (10..1000) to a v2
// io.weight (1..10000).
func BlkioWeightToIOWeight(w uint16) uint64 {
	if w < 10 {
		w = 10
	}
	if w > 1000 {
		w = 1000
	}
	return 1 + (uint64(w)-10)*9999/990
}
