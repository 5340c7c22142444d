package config

import (
	"strings"

	"golang.org/x/sys/unix"
)

const msBind = unix.MS_BIND

// mountFlag is what one mount option does to mount(2)'s flags.
type mountFlag struct {
	clear bool // the option turns the flag off ("rw", "suid", ...)
	flag  uintptr
}

// mountFlags maps the fstab-style options of runtime-spec to MS_* flags.
var mountFlags = map[string]mountFlag{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// propagationFlags maps propagation options to MS_* flags.
var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recAttr is a recursive mount attribute set with mount_setattr(2).
type recAttr struct {
	clear bool
	attr  uint64
}

// recursiveAttrs maps the "r"-prefixed recursive options (runc 1.1+).
var recursiveAttrs = map[string]recAttr{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// parseMountOptions splits options into flags, propagation, recursive
// attributes and the data string passed to the filesystem.
func parseMountOptions(m *Mount, options []string) {
	var data []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				m.Flags &^= f.flag
				m.ClearedFlags |= f.flag
			} else {
				m.Flags |= f.flag
				m.ClearedFlags &^= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			m.Propagation = append(m.Propagation, p)
			continue
		}
		if a, ok := recursiveAttrs[o]; ok {
			if a.clear {
				m.RecAttrClr |= a.attr
				m.RecAttrSet &^= a.attr
			} else {
				m.RecAttrSet |= a.attr
				m.RecAttrClr &^= a.attr
			}
			continue
		}
		switch o {
		case "idmap":
			m.IDMapped = true
			continue
		case "ridmap":
			m.IDMapped, m.IDMapRec = true, true
			continue
		case "tmpcopyup":
			// runc extension for tmpfs; not supported, ignored as crun does.
			continue
		}
		data = append(data, o)
	}
	m.Data = strings.Join(data, ",")
}

// MountOptions lists every mount option the runtime understands (for
// `capsa-runtime features`); others are passed to the filesystem.
func MountOptions() []string {
	var out []string
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range propagationFlags {
		out = append(out, k)
	}
	for k := range recursiveAttrs {
		out = append(out, k)
	}
	return append(out, "idmap", "ridmap")
}
