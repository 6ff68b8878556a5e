package embedpg

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Lock is an exclusive hold on a data directory: one handoff process runs
// its private PostgreSQL at a time. The kernel drops it when the process
// ends, however it ends (kill -9 too).
type Lock struct{ f *os.File }

// ErrInUse: another live handoff process holds the data directory.
var ErrInUse = errors.New("in use by another handoff process")

// LockDir takes dir's lock (dir/handoff.lock, recording this pid), or
// fails with ErrInUse (naming the holder's pid) at once.
func LockDir(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "handoff.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is %w (pid %s)", dir, ErrInUse, strings.TrimSpace(string(b)))
		}
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() { _ = l.f.Close() }

// Running returns the URL of the private PostgreSQL of dir when one is
// running (its postmaster.pid names a live process), for a command run
// beside serve.
func Running(dir string) (string, bool) {
	pid, port, ok := postmaster(filepath.Join(dir, "pgdata"))
	if !ok || !alive(pid) {
		return "", false
	}
	pass, err := os.ReadFile(filepath.Join(dir, "pgpass"))
	if err != nil {
		return "", false
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("handoff", strings.TrimSpace(string(pass))),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/handoff", RawQuery: "sslmode=disable"}
	return u.String(), true
}

// postmaster reads a data directory's postmaster.pid: the server's pid
// (line 1) and port (line 4).
func postmaster(data string) (pid, port int, ok bool) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	return pid, port, err1 == nil && err2 == nil && pid > 0
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// stopOrphan stops a PostgreSQL left running on data by a handoff process
// that died without stopping it (kill -9). The caller holds the data
// directory's lock, so no live handoff process owns that server.
func stopOrphan(data string) error {
	pid, _, ok := postmaster(data)
	if !ok || !alive(pid) {
		return nil
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if len(cmdline) > 0 && !strings.Contains(string(cmdline), "postgres") {
		return nil // the pid was reused by something else: PostgreSQL's own check handles a stale file
	}
	p, _ := os.FindProcess(pid)
	_ = p.Signal(syscall.SIGINT) // fast shutdown: sessions end, data is safe
	for deadline := time.Now().Add(30 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			return fmt.Errorf("the PostgreSQL left running on %s (pid %d) did not stop", data, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// reachable checks that owner (who runs PostgreSQL, as root) can enter
// every directory down to dir: a 0700 directory of root's on the way
// (a home directory, a temp dir) stops it with a confusing error later.
func reachable(dir string, owner *user.User) error {
	if owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			s := st.Sys().(*syscall.Stat_t)
			m := st.Mode().Perm()
			ok := (int(s.Uid) == uid && m&0o100 != 0) || (int(s.Gid) == gid && m&0o010 != 0) || m&0o001 != 0
			if !ok {
				return fmt.Errorf("the private PostgreSQL runs as user %s, who cannot enter %s (mode %o): choose a data directory it can reach (--data-dir or HANDOFF_DATA_DIR, e.g. /var/lib/handoff)", owner.Username, p, m)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
