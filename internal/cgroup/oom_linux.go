package cgroup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// OOMEvents reports OOM kills: on v1 through an eventfd registered on
// memory.oom_control, which the kernel signals at each OOM (and once
// more when the cgroup is removed); on v2 by watching memory.events with
// inotify and counting oom_kill.
func (m *manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	if m.st.V2Controllers {
		return m.oomV2(ctx)
	}
	d := m.st.V1["memory"]
	if d == "" {
		return nil, errors.New("no memory cgroup controller: OOM events are not available")
	}
	return oomV1(ctx, d)
}

func oomV1(ctx context.Context, dir string) (<-chan struct{}, error) {
	ctl, err := unix.Open(filepath.Join(dir, "memory.oom_control"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open memory.oom_control: %w", err)
	}
	defer unix.Close(ctl)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := writeFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, ctl)); err != nil {
		unix.Close(efd)
		return nil, err
	}
	ch := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Closing would race with the read; a wake-up write does not.
			_, _ = unix.Write(efd, binary.LittleEndian.AppendUint64(nil, 1))
		case <-stop:
		}
	}()
	go func() {
		defer close(ch)
		defer unix.Close(efd)
		defer close(stop)
		buf := make([]byte, 8)
		for {
			if _, err := unix.Read(efd, buf); err != nil {
				if err == unix.EINTR {
					continue
				}
				return
			}
			if ctx.Err() != nil {
				return
			}
			// The eventfd fires too when the cgroup goes away.
			if !exists(filepath.Join(dir, "memory.oom_control")) {
				return
			}
			select {
			case ch <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (m *manager) oomV2(ctx context.Context) (<-chan struct{}, error) {
	d := m.st.V2
	// Non-blocking, behind an *os.File: reads then wait in Go's poller,
	// and Close wakes them (a blocking read(2) would not wake, and its fd
	// number could be reused while it waited).
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(d, "memory.events"), unix.IN_MODIFY); err != nil {
		unix.Close(ifd)
		return nil, fmt.Errorf("watch memory.events: %w", err)
	}
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(d, "cgroup.events"), unix.IN_MODIFY); err != nil {
		unix.Close(ifd)
		return nil, fmt.Errorf("watch cgroup.events: %w", err)
	}
	count := func() (uint64, bool) {
		ev, err := readKeyValues(d, "memory.events")
		if err != nil {
			return 0, false
		}
		n, _ := strconv.ParseUint(ev["oom_kill"], 10, 64)
		return n, true
	}
	last, _ := count()
	f := os.NewFile(uintptr(ifd), "inotify:"+d)
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		f.Close()
	}()
	go func() {
		defer close(ch)
		defer close(done)
		buf := make([]byte, 4096)
		for {
			// cgroupfs raises no inotify event when a cgroup is removed:
			// a read times out now and then to see whether it still is.
			_ = f.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := f.Read(buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) && exists(d) {
					continue
				}
				return
			}
			n, ok := count()
			if !ok {
				return
			}
			for ; last < n; last++ {
				select {
				case ch <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			if ev, err := readKeyValues(d, "cgroup.events"); err == nil && ev["populated"] == "0" {
				return
			}
		}
	}()
	return ch, nil
}
