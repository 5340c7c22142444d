package cgroup

import specs "github.com/opencontainers/runtime-spec/specs-go"

// DefaultDeviceRules are the device cgroup rules every container gets
// after its own, as runc's: mknod of any node (opening is what the rules
// guard), the standard nodes the runtime creates in /dev, the pty
// multiplexer and slaves, and /dev/net/tun.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "b", Access: "m"},
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: i(136), Access: "rwm"},               // pts/*
		{Allow: true, Type: "c", Major: i(10), Minor: i(200), Access: "rwm"}, // net/tun
	}
}

// WithDeviceRules returns r with extra device rules after its own, or r
// itself if there are none to add. r is not modified.
func WithDeviceRules(r *specs.LinuxResources, extra []specs.LinuxDeviceCgroup) *specs.LinuxResources {
	if len(extra) == 0 {
		return r
	}
	var out specs.LinuxResources
	if r != nil {
		out = *r
	}
	out.Devices = append(append([]specs.LinuxDeviceCgroup(nil), out.Devices...), extra...)
	return &out
}
