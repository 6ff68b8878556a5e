package embedpg

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// As root the private PostgreSQL runs as another user: a data dir under a
// directory that user cannot enter is refused up front with a clear
// message (initdb's own error named neither the user nor the directory).
func TestUnreachableDataDirIsExplained(t *testing.T) {
	owner, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody user")
	}
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	parent, err := os.MkdirTemp("", "embedpg-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	err = reachable(filepath.Join(parent, "state", "postgres"), owner)
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+parent) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("unreachable: %v", err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := reachable(filepath.Join(parent, "state", "postgres"), owner); err != nil {
		t.Fatalf("reachable: %v", err)
	}
}
