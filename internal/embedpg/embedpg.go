// Package embedpg runs a private PostgreSQL for handoff's default setup:
// server binaries found on the machine, a data directory of its own,
// initdb on first start, a password-protected loopback port, and a clean
// stop. When the process runs as root (PostgreSQL refuses to), the server
// runs as the postgres (or nobody) user. Without binaries, StartDocker runs
// the PostgreSQL image instead, with its data in the same directory.
package embedpg

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries: no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) found")

// FindBinaries returns the directory holding initdb and postgres: from
// PATH, `pg_config --bindir`, or the usual distribution locations (the
// newest version first).
func FindBinaries() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	var candidates []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
		"/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin", "/opt/homebrew/bin", "/usr/local/bin"} {
		m, _ := filepath.Glob(pattern)
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		candidates = append(candidates, m...)
	}
	for _, dir := range candidates {
		if has(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// Server is a running private PostgreSQL.
type Server struct {
	// URL connects to its "handoff" database.
	URL  string
	cmd  *exec.Cmd
	done chan error
	log  *slog.Logger
	// container is set when the server runs in Docker.
	container string
}

// Start starts (initialising on first use) a PostgreSQL whose data lives
// in dir/pgdata, with binaries from binDir. The password of its loopback
// port is kept in dir/pgpass (mode 0600). The caller holds dir's parent's
// Lock: a server still running on dir/pgdata is an orphan of a handoff
// process that died, and is stopped first.
func Start(ctx context.Context, binDir, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "pgdata")
	cred, owner, err := runAs()
	if err != nil {
		return nil, err
	}
	if err := reachable(dir, owner); err != nil {
		return nil, err
	}
	if err := stopOrphan(data); err != nil {
		return nil, err
	}
	pass, err := password(filepath.Join(dir, "pgpass"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("initialising a private PostgreSQL", "data", data)
		if err := initdb(ctx, binDir, dir, data, pass, cred, owner); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=on")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	logFile, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{cmd: cmd, done: make(chan error, 1), log: log}
	go func() { s.done <- cmd.Wait(); logFile.Close() }()
	u := url.URL{Scheme: "postgres", User: url.UserPassword("handoff", pass), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	if err := s.waitReady(ctx, u.String()); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w (see %s)", err, filepath.Join(dir, "postgres.log"))
	}
	if err := ensureDatabase(ctx, u.String(), "handoff"); err != nil {
		_ = s.Stop()
		return nil, err
	}
	u.Path = "/handoff"
	s.URL = u.String()
	log.Info("private PostgreSQL running", "port", port, "pid", cmd.Process.Pid)
	return s, nil
}

// Stop shuts the server down (fast shutdown: sessions are ended, data is
// safe) and waits for it to exit.
func (s *Server) Stop() error {
	if s.container != "" {
		out, err := exec.Command("docker", "rm", "-f", s.container).CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker rm %s: %v: %s", s.container, err, out)
		}
		return nil
	}
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.done
		return errors.New("postgres did not stop in 30s; sent SIGQUIT")
	}
}

// Container is the Docker container's name ("" when not in Docker).
func (s *Server) Container() string { return s.container }

// DockerAvailable reports whether a Docker engine answers.
func DockerAvailable() bool {
	if _, err := exec.LookPath("docker"); err != nil {
		return false
	}
	return exec.Command("docker", "info").Run() == nil
}

// StartDocker runs the private PostgreSQL in a Docker container of image,
// its data in dir/pgdata-docker (kept across starts), on a
// password-protected loopback port. Stop removes the container.
func StartDocker(ctx context.Context, image, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data := filepath.Join(dir, "pgdata-docker")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return nil, err
	}
	pass, err := password(filepath.Join(dir, "pgpass"))
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(abs))
	name := "handoff-pg-" + hex.EncodeToString(sum[:6])
	_ = exec.Command("docker", "rm", "-f", name).Run() // left over from a crash
	out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--name", name,
		"-p", "127.0.0.1:"+strconv.Itoa(port)+":5432", "-v", abs+":/var/lib/postgresql/data",
		"-e", "POSTGRES_USER=handoff", "-e", "POSTGRES_PASSWORD="+pass, "-e", "POSTGRES_DB=handoff", image).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker run %s: %v: %s", image, err, out)
	}
	s := &Server{container: name, log: log, done: make(chan error, 1)}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("handoff", pass), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/handoff", RawQuery: "sslmode=disable"}
	if err := s.waitReady(ctx, u.String()); err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.URL = u.String()
	log.Info("private PostgreSQL running in Docker", "container", name, "port", port)
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, dsn string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, dsn)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("postgres exited: %v", err)
		default:
		}
		if s.container != "" && exec.Command("docker", "inspect", "-f", "{{.State.Running}}", s.container).Run() != nil {
			return fmt.Errorf("container %s is gone", s.container)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres did not become ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ensureDatabase(ctx context.Context, dsn, name string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	}
	return err
}

func initdb(ctx context.Context, binDir, dir, data, pass string, cred *syscall.Credential, owner *user.User) error {
	pwfile := filepath.Join(dir, "pgpass.init")
	if err := os.WriteFile(pwfile, []byte(pass+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		for _, p := range []string{data, pwfile, dir} {
			if err := os.Chown(p, uid, gid); err != nil {
				return err
			}
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", data, "-U", "handoff",
		"--auth=scram-sha-256", "--pwfile="+pwfile, "--encoding=UTF8", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

// runAs picks who runs the server: this user, or, as root, postgres (or
// nobody), since PostgreSQL refuses to run as root.
func runAs() (*syscall.Credential, *user.User, error) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		return nil, nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, u, nil
	}
	return nil, nil, errors.New("running as root, and no postgres or nobody user to run PostgreSQL as")
}

// password reads the server's password, making one on first use.
func password(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	pass := hex.EncodeToString(b)
	return pass, os.WriteFile(path, []byte(pass+"\n"), 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
