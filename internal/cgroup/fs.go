package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// writeFile writes v to a cgroup interface file. Interface files take
// one value per write(2), so there is no O_TRUNC/O_CREAT: a missing file
// means a missing controller, not a file to make.
func writeFile(dir, file, v string) error {
	p := filepath.Join(dir, file)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, wrapNotExist(err))
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(v))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", v, p, err)
	}
	return nil
}

func wrapNotExist(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return os.ErrNotExist
	}
	return err
}

// readFile reads a cgroup interface file, without the trailing newline.
func readFile(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a file holding one number; "max" reads as MaxUint64.
func readUint(dir, file string) (uint64, error) {
	s, err := readFile(dir, file)
	if err != nil {
		return 0, err
	}
	return parseUint(s, filepath.Join(dir, file))
}

func parseUint(s, where string) (uint64, error) {
	if s == "max" {
		return ^uint64(0), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// v1 files may report -1 for "no limit".
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return ^uint64(0), nil
		}
		return 0, fmt.Errorf("parse %s: %w", where, err)
	}
	return v, nil
}

// readKeyValues reads a flat keyed file ("key value" lines: memory.stat,
// cpu.stat, cgroup.events).
func readKeyValues(dir, file string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// readUintMap reads a flat keyed file of numbers.
func readUintMap(dir, file string) (map[string]uint64, error) {
	kv, err := readKeyValues(dir, file)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(kv))
	for k, v := range kv {
		if n, err := parseUint(v, file); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cpusetInherit copies cpuset.cpus and cpuset.mems from parent into a v1
// cpuset cgroup that has none yet.
func cpusetInherit(parent, dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readFile(dir, f)
		if err != nil {
			return fmt.Errorf("cpuset cgroup %q: %w", dir, err)
		}
		if cur != "" {
			continue
		}
		v, err := readFile(parent, f)
		if err != nil {
			return fmt.Errorf("cpuset cgroup %q: %w", parent, err)
		}
		if err := writeFile(dir, f, v); err != nil {
			return err
		}
	}
	return nil
}
