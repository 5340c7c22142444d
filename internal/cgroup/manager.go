package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// manager is the cgroupfs Manager for every layout.
type manager struct {
	st State
}

func (m *manager) State() State { return m.st }

// dirs returns the cgroup's distinct directories: one per v1 hierarchy
// (co-mounted controllers share one) and the v2 one.
func (m *manager) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.st.V1 {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	if m.st.V2 != "" {
		out = append(out, m.st.V2)
	}
	sort.Strings(out)
	return out
}

// mountOf returns the hierarchy mountpoint of a cgroup directory.
func (m *manager) mountOf(dir string) string {
	return strings.TrimSuffix(dir, m.st.Path)
}

// Create makes the cgroup in every hierarchy.
func (m *manager) Create() error {
	if m.st.Created == nil {
		m.st.Created = map[string]string{}
	}
	for _, dir := range m.dirs() {
		if err := m.create(dir); err != nil {
			return err
		}
	}
	if m.st.V2 != "" && m.st.V2Controllers {
		if err := enableControllers(m.mountOf(m.st.V2), m.st.Path); err != nil {
			return err
		}
	}
	return nil
}

// Placement returns the files a new process uses to enter the cgroup.
func (m *manager) Placement() Placement {
	p := Placement{V2: m.st.V2}
	for _, d := range m.dirs() {
		if d != m.st.V2 {
			p.V1Tasks = append(p.V1Tasks, filepath.Join(d, "tasks"))
		}
	}
	return p
}

// Apply moves pid into the cgroup in each hierarchy where
// /proc/PID/cgroup shows it elsewhere.
func (m *manager) Apply(pid int) error {
	p := strconv.Itoa(pid)
	b, err := os.ReadFile("/proc/" + p + "/cgroup")
	if err != nil {
		return fmt.Errorf("read cgroups of pid %d: %w", pid, err)
	}
	at := parseProcCgroup(b)
	for _, dir := range m.dirs() {
		if m.inCgroup(dir, at) {
			continue
		}
		if err := writeFile(dir, "cgroup.procs", p); err != nil {
			return fmt.Errorf("move pid %d into cgroup: %w", pid, err)
		}
	}
	return nil
}

// inCgroup reports whether the process whose /proc/PID/cgroup is at is
// in the cgroup in the hierarchy of dir.
func (m *manager) inCgroup(dir string, at map[string]string) bool {
	if dir == m.st.V2 {
		return at["unified"] == m.st.Path
	}
	for ctrl, d := range m.st.V1 {
		if d == dir {
			return at[ctrl] == m.st.Path
		}
	}
	return false
}

// create makes dir and its missing parents, recording the top-most level
// it made. A parent that a concurrent Destroy removes between two mkdirs
// (ENOENT) is made again.
func (m *manager) create(dir string) error {
	mnt := m.mountOf(dir)
	isCpuset := m.st.V1["cpuset"] == dir
	for attempt := 0; ; attempt++ {
		cur := mnt
		var err error
		for _, el := range strings.Split(strings.TrimPrefix(m.st.Path, "/"), "/") {
			parent := cur
			cur = path.Join(cur, el)
			err = unix.Mkdir(cur, 0o755)
			switch {
			case err == nil:
				if _, ok := m.st.Created[dir]; !ok {
					m.st.Created[dir] = cur
				}
			case errors.Is(err, unix.EEXIST):
				err = nil
			default:
				err = fmt.Errorf("create cgroup %q: %w", cur, err)
			}
			if err != nil {
				break
			}
			if isCpuset {
				// A new v1 cpuset cgroup starts with no CPUs and no memory
				// nodes, and refuses tasks until both are set.
				if err = cpusetInherit(parent, cur); err != nil {
					break
				}
			}
		}
		// A parent removed by another container's Destroy while this
		// one was between its mkdirs answers ENOENT (mkdir below it) or
		// ENODEV (its files): make the chain again.
		gone := errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)
		if err == nil || !gone || attempt == 10 {
			return err
		}
	}
}

// Destroy removes the cgroup and the parents Apply created, retrying
// while dying processes leave it.
func (m *manager) Destroy(ctx context.Context) error {
	var errs []error
	for _, dir := range m.dirs() {
		top, created := m.st.Created[dir]
		if !created {
			// The leaf existed before: not capsa's to remove.
			continue
		}
		if err := removeTree(ctx, dir); err != nil {
			errs = append(errs, err)
			continue
		}
		for p := path.Dir(dir); len(p) >= len(top) && strings.HasPrefix(p, top); p = path.Dir(p) {
			// A parent still holding other containers stays.
			if err := unix.Rmdir(p); err != nil {
				break
			}
		}
		// capsa's own parent goes with its last container, whichever
		// container made it: with containers made and removed side by
		// side, the one that made it may not be the last to leave.
		if def := m.mountOf(dir) + DefaultParent; strings.HasPrefix(dir, def+"/") {
			_ = unix.Rmdir(def)
		}
		delete(m.st.Created, dir)
	}
	return errors.Join(errs...)
}

// removeTree removes a cgroup directory and the cgroups below it, deepest
// first. rmdir answers EBUSY while exiting tasks are still attached, so it
// is retried for a few seconds.
func removeTree(ctx context.Context, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove cgroup %q: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(ctx, filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("remove cgroup %q: %w", dir, err)
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// procsDir is the directory whose cgroup.procs lists every process of the
// container: the v2 one if there is one, else a v1 hierarchy's.
func (m *manager) procsDir() string {
	if m.st.V2 != "" {
		return m.st.V2
	}
	for _, c := range []string{"pids", "freezer", "memory", "cpu", "devices"} {
		if d, ok := m.st.V1[c]; ok {
			return d
		}
	}
	for _, d := range m.dirs() {
		return d
	}
	return ""
}

// Procs lists every process in the cgroup and the cgroups below it.
func (m *manager) Procs() ([]int, error) {
	var pids []int
	err := filepath.WalkDir(m.procsDir(), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids, err
}

// Kill signals every process of the cgroup. SIGKILL goes through v2's
// cgroup.kill where the kernel has it (5.14): atomic, no race with forks.
// Otherwise the cgroup is frozen while its processes are listed and
// signalled, so that none forks away unsignalled, then thawed, unless it
// was frozen already (a paused container stays paused).
func (m *manager) Kill(sig unix.Signal) error {
	if sig == unix.SIGKILL && m.st.V2 != "" {
		err := writeFile(m.st.V2, "cgroup.kill", "1")
		if err == nil || errors.Is(err, os.ErrNotExist) && !exists(m.st.V2) {
			return nil
		}
	}
	// Nothing to signal is the common case (a container whose init has
	// exited): no freeze, which would flip the kernel's freezer static
	// key, a text patch with IPIs to every CPU, twice.
	if pids, err := m.Procs(); err == nil && len(pids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	froze := false
	if fs, err := m.FreezerState(); err == nil && fs == Thawed {
		froze = m.Freeze(ctx) == nil
	}
	pids, err := m.Procs()
	if err == nil {
		for _, pid := range pids {
			if e := unix.Kill(pid, sig); e != nil && !errors.Is(e, unix.ESRCH) && err == nil {
				err = fmt.Errorf("signal pid %d: %w", pid, e)
			}
		}
	}
	if froze {
		if terr := m.Thaw(ctx); terr != nil && err == nil {
			err = terr
		}
	}
	return err
}

// v1Freezer returns the v1 freezer directory, or "".
func (m *manager) v1Freezer() string { return m.st.V1["freezer"] }

// Freeze stops every process and waits until the kernel reports the
// cgroup frozen.
func (m *manager) Freeze(ctx context.Context) error {
	return m.setFrozen(ctx, true)
}

// Thaw resumes a frozen cgroup.
func (m *manager) Thaw(ctx context.Context) error {
	return m.setFrozen(ctx, false)
}

func (m *manager) setFrozen(ctx context.Context, frozen bool) error {
	want := Thawed
	if frozen {
		want = Frozen
	}
	if d := m.v1Freezer(); d != "" {
		// v1 may stay FREEZING while a task is in an uninterruptible
		// sleep; writing FROZEN again retries the tasks that remain.
		return poll(ctx, func() (bool, error) {
			if err := writeFile(d, "freezer.state", string(want)); err != nil {
				return false, err
			}
			s, err := readFile(d, "freezer.state")
			return FreezerState(s) == want, err
		}, "freezer.state "+string(want))
	}
	if m.st.V2 == "" {
		return errors.New("no freezer: neither a v1 freezer hierarchy nor cgroup v2")
	}
	v := "0"
	if frozen {
		v = "1"
	}
	if err := writeFile(m.st.V2, "cgroup.freeze", v); err != nil {
		return err
	}
	return poll(ctx, func() (bool, error) {
		ev, err := readKeyValues(m.st.V2, "cgroup.events")
		return ev["frozen"] == v, err
	}, "cgroup.events frozen "+v)
}

// poll calls done until it reports true, with a growing delay, for at most
// ten seconds or until ctx ends.
func poll(ctx context.Context, done func() (bool, error), what string) error {
	delay := 100 * time.Microsecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

// FreezerState reads the freezer's state.
func (m *manager) FreezerState() (FreezerState, error) {
	if d := m.v1Freezer(); d != "" {
		s, err := readFile(d, "freezer.state")
		return FreezerState(s), err
	}
	if m.st.V2 == "" {
		return Thawed, nil
	}
	f, err := readFile(m.st.V2, "cgroup.freeze")
	if err != nil {
		return "", err
	}
	if f == "0" {
		return Thawed, nil
	}
	ev, err := readKeyValues(m.st.V2, "cgroup.events")
	if err != nil {
		return "", err
	}
	if ev["frozen"] == "1" {
		return Frozen, nil
	}
	return Freezing, nil
}

// enableControllers turns on, in the v2 hierarchy at mnt, every
// controller each level above the leaf cgroup p is offered, so that the
// leaf gets their interface files.
func enableControllers(mnt, p string) error {
	levels := []string{mnt}
	if parent := path.Dir(p); parent != "/" {
		cur := mnt
		for _, el := range strings.Split(strings.TrimPrefix(parent, "/"), "/") {
			cur = path.Join(cur, el)
			levels = append(levels, cur)
		}
	}
	for _, dir := range levels {
		avail, err := readFile(dir, "cgroup.controllers")
		if err != nil {
			return err
		}
		have, err := readFile(dir, "cgroup.subtree_control")
		if err != nil {
			return err
		}
		on := map[string]bool{}
		for _, c := range strings.Fields(have) {
			on[c] = true
		}
		var add []string
		for _, c := range strings.Fields(avail) {
			if !on[c] {
				add = append(add, "+"+c)
			}
		}
		if len(add) > 0 {
			if err := writeFile(dir, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
				return err
			}
		}
	}
	return nil
}
