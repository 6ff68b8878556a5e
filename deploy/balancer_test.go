package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The balancer configs README shows are the files the tests run (and
// check), word for word.
func TestREADMEShowsTheBalancerConfigs(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"haproxy.cfg", "nginx.conf"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), "```\n"+string(b)+"```\n") {
			t.Errorf("README does not show deploy/%s as it is", f)
		}
	}
}

// deploy/nginx.conf is a valid part of nginx's http block (nginx -t).
func TestNginxConfigValid(t *testing.T) {
	exe := need(t, "nginx", "nginx")
	dir := t.TempDir()
	abs, err := filepath.Abs("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, []byte("pid "+filepath.Join(dir, "nginx.pid")+";\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include "+abs+";\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(exe, "-t", "-q", "-p", dir, "-c", main).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// deploy/haproxy.cfg is valid (haproxy -c), with its variables set.
func TestHAProxyConfigValid(t *testing.T) {
	exe := need(t, "haproxy", "haproxy")
	cmd := exec.Command(exe, "-c", "-f", "haproxy.cfg")
	cmd.Env = append(os.Environ(), "HANDOFF_LB_LISTEN=127.0.0.1:8080", "HANDOFF_REPLICA_1=10.0.0.11:8080",
		"HANDOFF_REPLICA_2=10.0.0.12:8080", "HANDOFF_REPLICA_3=10.0.0.13:8080")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}
