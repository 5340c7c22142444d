package oci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/openat2"
)

// maxIDFile bounds /etc/passwd and /etc/group: they come from an image.
const maxIDFile = 4 << 20

// maxID is the largest uid or gid a --user may name (as runc: ids are
// signed 32-bit in parts of the kernel's interface).
const maxID = 1<<31 - 1

// WithUser runs the process as user (-u): "uid", "name", "uid:gid",
// "name:group" and mixes of those. Names are looked up in the rootfs's
// /etc/passwd and /etc/group; a user found there also gets its primary
// group (unless a group is given) and its supplementary groups, and HOME
// if the environment has none. A numeric uid needs no passwd entry (its
// group is then 0). The lookup happens once the rootfs is known.
func WithUser(user string) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		if user == "" {
			return flagErr("--user", user, "empty user")
		}
		return later(ctx, s, func(_ context.Context, s *specs.Spec) error {
			root := ""
			if s.Root != nil {
				root = s.Root.Path
			}
			u, err := resolveUser(root, user)
			if err != nil {
				return flagErr("--user", user, "%v", err)
			}
			s.Process.User = u.User
			if u.home != "" {
				setEnvDefault(s, "HOME", u.home)
			}
			return nil
		})
	}
}

type resolvedUser struct {
	specs.User
	home string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxID {
		return 0, false
	}
	return uint32(n), true
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// resolveUser resolves spec against the passwd and group files of the
// root filesystem at root.
func resolveUser(root, spec string) (resolvedUser, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return resolvedUser{}, errors.New("want user[:group]")
	}
	var out resolvedUser

	passwd, perr := readInRoot(root, "/etc/passwd")
	var entry *passwdEntry
	if isNumeric(userPart) {
		uid, ok := parseID(userPart)
		if !ok {
			return out, fmt.Errorf("uid %s is out of range [0, %d]", userPart, maxID)
		}
		out.UID = uid
		if perr == nil {
			for _, e := range parsePasswd(passwd) {
				if e.uid == uid {
					entry = &e
					break
				}
			}
		}
	} else {
		if perr != nil {
			return out, fmt.Errorf("unable to find user %s: %v", userPart, perr)
		}
		for _, e := range parsePasswd(passwd) {
			if e.name == userPart {
				entry = &e
				break
			}
		}
		if entry == nil {
			return out, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		out.UID = entry.uid
	}
	if entry != nil {
		out.GID = entry.gid
		out.home = entry.home
	}

	needGroups := (hasGroup && !isNumeric(groupPart)) || (!hasGroup && entry != nil)
	var groups []groupEntry
	if needGroups {
		gf, err := readInRoot(root, "/etc/group")
		switch {
		case err == nil:
			groups = parseGroup(gf)
		case hasGroup:
			return out, fmt.Errorf("unable to find group %s: %v", groupPart, err)
		}
	}
	if hasGroup {
		if isNumeric(groupPart) {
			gid, ok := parseID(groupPart)
			if !ok {
				return out, fmt.Errorf("gid %s is out of range [0, %d]", groupPart, maxID)
			}
			out.GID = gid
		} else {
			i := slices.IndexFunc(groups, func(g groupEntry) bool { return g.name == groupPart })
			if i < 0 {
				return out, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
			out.GID = groups[i].gid
		}
		out.AdditionalGids = []uint32{out.GID}
		return out, nil
	}
	// The primary group is listed too, so that the process's groups are
	// exactly these and nothing inherited.
	out.AdditionalGids = []uint32{out.GID}
	if entry != nil {
		for _, g := range groups {
			if slices.Contains(g.members, entry.name) && !slices.Contains(out.AdditionalGids, g.gid) {
				out.AdditionalGids = append(out.AdditionalGids, g.gid)
			}
		}
	}
	return out, nil
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxIDFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxIDFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		gid, ok := parseID(f[2])
		if !ok {
			continue
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out
}

// readInRoot reads name inside the directory tree at root, resolving
// every component, symlinks included, as if root were "/" (openat2
// RESOLVE_IN_ROOT): an image's /etc/passwd that is a symlink to
// "../../../etc/shadow" reads the rootfs's own etc/shadow, never the
// host's. Only a regular file is read, at most maxIDFile bytes.
func readInRoot(root, name string) ([]byte, error) {
	if root == "" || !filepath.IsAbs(root) {
		return nil, fmt.Errorf("no absolute rootfs path to read %s from (set --rootfs first)", name)
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %q: %w", root, err)
	}
	defer unix.Close(rfd)
	fd, err := openat2.Open(rfd, name, &unix.OpenHow{
		// O_NONBLOCK: a FIFO planted at the path must not block the open.
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s in the rootfs: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s in the rootfs: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s in the rootfs is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxIDFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in the rootfs: %w", name, err)
	}
	if len(b) > maxIDFile {
		return nil, fmt.Errorf("%s in the rootfs is larger than %d bytes", name, maxIDFile)
	}
	return b, nil
}
