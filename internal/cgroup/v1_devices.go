package cgroup

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Devices(r *specs.LinuxResources) error {
	d := m.st.V1["devices"]
	if len(r.Devices) == 0 || d == "" {
		return nil
	}
	for i, dev := range r.Devices {
		line, err := deviceRule(dev)
		if err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		file := "devices.deny"
		if dev.Allow {
			file = "devices.allow"
		}
		if err := writeFile(d, file, line); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.devices[%d]", i), err)
		}
	}
	return nil
}

// deviceRule renders a device cgroup rule as v1 takes it: "c 1:3 rwm".
func deviceRule(d specs.LinuxDeviceCgroup) (string, error) {
	t := d.Type
	switch t {
	case "", "a":
		t = "a"
	case "c", "b":
	default:
		return "", fmt.Errorf("type %q: must be a, b or c", d.Type)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		if c != 'r' && c != 'w' && c != 'm' {
			return "", fmt.Errorf("access %q: must be made of r, w and m", d.Access)
		}
	}
	if t == "a" {
		return "a *:* " + access, nil
	}
	return t + " " + devNum(d.Major, d.Minor) + " " + access, nil
}
