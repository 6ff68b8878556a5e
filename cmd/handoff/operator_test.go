package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// buildHandoff builds this command into a temporary file.
func buildHandoff(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "handoff")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// reachableDir is a temporary directory the private PostgreSQL's user
// can reach when the tests run as root.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "handoff-op-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	return filepath.Join(dir, "state")
}

// startProcess runs `handoff serve` on dataDir as its own process and
// returns it once it listens (and its address).
func startProcess(t *testing.T, bin, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "HANDOFF_DATA_DIR="+dataDir, "PORT=0", "DATABASE_URL=")
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "handoff listening" {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			_, port, _ := net.SplitHostPort(line.Addr)
			return cmd, "127.0.0.1:" + port
		}
	}
	t.Fatalf("serve never listened:\n%s", strings.Join(seen, "\n"))
	return nil, ""
}

func runCmd(t *testing.T, bin, dataDir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HANDOFF_DATA_DIR="+dataDir, "DATABASE_URL=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// The default mode after its first start: admin commands work on the
// same data dir with serve running or not, a second serve on a data dir
// in use says so in one line, and a serve killed with -9 (its private
// PostgreSQL left running) does not stop the next start.
func TestDefaultModeOperatorsDay(t *testing.T) {
	bin := buildHandoff(t)
	dataDir := reachableDir(t)
	first, _ := startProcess(t, bin, dataDir)

	// Beside the running serve.
	_, stderr, code := runCmd(t, bin, dataDir, "serve")
	if code == 0 || !strings.Contains(stderr, "in use by another handoff process") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("a second serve on the same data dir: exit %d, %q", code, stderr)
	}
	out, stderr, code := runCmd(t, bin, dataDir, "user", "create", "--email", "ops@example.com")
	if code != 0 {
		t.Fatalf("user create beside serve: %d %s", code, stderr)
	}
	userID := strings.TrimSpace(out)
	if _, stderr, code := runCmd(t, bin, dataDir, "token", "issue", "--user", userID, "--scope", "agent"); code != 0 {
		t.Fatalf("token issue beside serve: %d %s", code, stderr)
	}
	if out, stderr, code := runCmd(t, bin, dataDir, "signin-link"); code != 0 || !strings.Contains(out, "/#token=") {
		t.Fatalf("signin-link beside serve: %d %q %s", code, out, stderr)
	}

	// kill -9: the private PostgreSQL stays behind.
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	second, addr := startProcess(t, bin, dataDir)
	if addr == "" {
		t.Fatal("no restart after kill -9")
	}
	_ = second.Process.Signal(syscall.SIGTERM)
	_ = second.Wait()

	// With no serve running, commands start the database themselves.
	if out, stderr, code := runCmd(t, bin, dataDir, "token", "list", "--user", userID); code != 0 || !strings.Contains(out, "agent") {
		t.Fatalf("token list with serve stopped: %d %q %s", code, out, stderr)
	}
	if out, stderr, code := runCmd(t, bin, dataDir, "migrate", "status"); code != 0 || out == "" {
		t.Fatalf("migrate status with serve stopped: %d %q %s", code, out, stderr)
	}
}
