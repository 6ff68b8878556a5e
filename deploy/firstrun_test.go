package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// README's first command must stay cheap on a cold Go cache (it once took
// 171 s, most of it building the task runner's remote-Taskfile
// dependencies; building handoff alone takes about 40 s on two cores).
// Time is no test's business, so these tests guard what that time is made
// of: which modules each of the two commands compiles before it can start.

// heavy names modules that once made a cold build slow, or that only tests
// and tools need: none of them belongs in what the two commands compile
// before they start.
var heavy = []string{
	"github.com/testcontainers/", "github.com/docker/", "github.com/moby/",
	"github.com/containerd/", "github.com/opencontainers/",
	"github.com/chromedp/", "github.com/sqlc-dev/",
	"github.com/prometheus/", "google.golang.org/protobuf", "google.golang.org/grpc",
	"go.opentelemetry.io/", "github.com/go-git/", "cloud.google.com/",
	"github.com/aws/", "github.com/Azure/", "github.com/u-root/", "k8s.io/",
}

// maxModules is the budget for the server binary: 44 modules when it was
// set. A new dependency that passes it must earn its place; measure the
// cold first command (README) before raising it.
const maxModules = 50

// modulesOf lists the modules whose packages building pkg compiles, from
// the module cache only: a test dials nothing.
func modulesOf(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		if strings.Contains(msg, "module lookup disabled") {
			t.Skipf("%s's modules are not in the module cache (run the suite with `go tool task test`): %s", pkg, msg)
		}
		t.Fatalf("go list %s: %s", pkg, msg)
	}
	seen := map[string]bool{}
	var mods []string
	for _, m := range strings.Fields(string(out)) {
		if !seen[m] {
			seen[m] = true
			mods = append(mods, m)
		}
	}
	return mods
}

func checkLight(t *testing.T, what string, mods []string) {
	t.Helper()
	for _, m := range mods {
		for _, h := range heavy {
			if strings.HasPrefix(m, h) {
				t.Errorf("%s compiles %s: keep it out of the cold first run", what, m)
			}
		}
	}
}

// twoCommands reads the two commands from README's "The two commands".
func twoCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	section, block := false, false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := s.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line == "## The two commands"
		case section && strings.HasPrefix(line, "```"):
			if block {
				return cmds
			}
			block = true
		case section && block:
			if c, _, _ := strings.Cut(line, "#"); strings.TrimSpace(c) != "" {
				cmds = append(cmds, strings.TrimSpace(c))
			}
		}
	}
	t.Fatalf("README has no code block under \"## The two commands\" (found %q)", cmds)
	return nil
}

// The first command builds the server alone, and the server's build pulls
// in nothing heavy and stays within its module budget.
func TestFirstCommandBuildsOnlyTheServer(t *testing.T) {
	cmds := twoCommands(t)
	if len(cmds) != 2 {
		t.Fatalf("README's two commands are %q", cmds)
	}
	f := strings.Fields(cmds[0])
	if len(f) < 3 || f[0] != "go" || f[1] != "run" || f[2] != "./cmd/handoff" {
		t.Fatalf("README's first command is %q: it should be `go run ./cmd/handoff …`, so it builds nothing but the server", cmds[0])
	}
	mods := modulesOf(t, f[2])
	checkLight(t, "the server", mods)
	if len(mods) > maxModules {
		t.Errorf("the server compiles %d modules, over its budget of %d: %q", len(mods), maxModules, mods)
	}
}

// The test command's task runner is a release without remote Taskfiles:
// later ones compile git, cloud SDKs and gRPC into it (1.3 GB of modules
// on a cold cache, against 170 MB).
func TestTestCommandsRunnerIsLight(t *testing.T) {
	cmds := twoCommands(t)
	if len(cmds) != 2 || cmds[1] != "go tool task test" {
		t.Fatalf("README's second command is not `go tool task test`: %q", cmds)
	}
	checkLight(t, "the task runner", modulesOf(t, "github.com/go-task/task/v3/cmd/task"))
}
