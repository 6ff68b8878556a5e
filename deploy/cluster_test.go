package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// The tests here run handoff as an operator does: the built binary,
// several replicas of `handoff serve` on one PostgreSQL, behind HAProxy
// (Debian's package) configured by deploy/haproxy.cfg, everything on
// loopback.

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	dbtest.Stop()
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binary is handoff built once for the package's tests (static, as the
// image ships it).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "handoff-bin-"); binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, "handoff"), "./cmd/handoff")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "handoff")
}

// need finds a program the test drives (CI installs it); without it the
// test is skipped, except under CI.
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	for _, p := range []string{prog, "/usr/sbin/" + prog} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no %s (CI must install Debian's %s)", prog, pkg)
	}
	t.Skipf("no %s on this machine (apt-get install %s)", prog, pkg)
	return ""
}

// cluster is one database with its keys, the replicas serving it and the
// balancer in front of them.
type cluster struct {
	t        *testing.T
	dbURL    string
	env      []string // every replica's environment
	keys     *auth.Keys
	replicas []*replica
	lbURL    string
	pool     *pgxpool.Pool // the test's own look at the database
	store    *db.Store
}

// newCluster makes the database (empty: the replicas migrate it) and the
// keys; extra is added to every replica's environment.
func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	if err := auth.WriteKeyFiles(dir, "eddsa"); err != nil {
		t.Fatal(err)
	}
	pub, priv := filepath.Join(dir, auth.PublicKeyFile), filepath.Join(dir, auth.PrivateKeyFile)
	keys, err := auth.LoadKeys(pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dbURL: dbtest.EmptyURL(t), keys: keys}
	c.env = append(baseEnv(), "DATABASE_URL="+c.dbURL, "JWT_PUBLIC_KEY="+pub, "JWT_PRIVATE_KEY="+priv,
		"HANDOFF_LISTEN=127.0.0.1:0", "HANDOFF_WEBHOOK_ALLOW_PRIVATE=1", "HANDOFF_DATA_DIR="+filepath.Join(dir, "state"))
	c.env = append(c.env, extra...)
	return c
}

// balancedCluster is three replicas started together on a new cluster,
// behind HAProxy with the operator's config.
func balancedCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	need(t, "haproxy", "haproxy")
	c := newCluster(t, extra...)
	c.start(3)
	c.balance(haproxyConfig(t))
	return c
}

// baseEnv is the test's environment without any handoff or database
// setting (a developer's shell may have some).
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HANDOFF_") || strings.HasPrefix(k, "JWT_") || k == "DATABASE_URL" || k == "PORT" ||
			k == "MCP_SERVER_PORT" || k == "GOGC" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// replica is one `handoff serve` process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port
	addr   string // 127.0.0.1:port
	exited chan struct{}
	mu     sync.Mutex
	log    strings.Builder
}

// start starts n replicas at the same moment and waits until each serves
// and is ready.
func (c *cluster) start(n int) {
	c.t.Helper()
	started := make([]*replica, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		r := &replica{name: fmt.Sprintf("r%d", len(c.replicas)+i+1), exited: make(chan struct{})}
		started[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.run(c.t, c.env)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.t.Fatalf("%s: %v\n%s", started[i].name, err, started[i].output())
		}
	}
	c.replicas = append(c.replicas, started...)
	for _, r := range started {
		c.waitReady(r.url, r.exited)
	}
}

// run starts the process and waits until it logs where it listens.
func (r *replica) run(t *testing.T, env []string) error {
	r.cmd = exec.Command(binary(t), "serve")
	r.cmd.Env = env
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := r.cmd.Start(); err != nil {
		return err
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.log.WriteString(line + "\n")
			r.mu.Unlock()
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "handoff listening" {
				listening <- l.Addr
			}
		}
	}()
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(20 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", r.name, r.output())
		}
	})
	select {
	case r.addr = <-listening:
		r.url = "http://" + r.addr
		return nil
	case <-r.exited:
		return fmt.Errorf("exited before listening")
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("not listening after 2 minutes")
	}
}

func (r *replica) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// kill ends the process with SIGKILL, as a crash or an OOM kill does.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.exited
}

// waitReady waits until url's /readyz answers 200 (or the process whose
// exit closes exited ends).
func (c *cluster) waitReady(url string, exited <-chan struct{}) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-exited:
			c.t.Fatalf("%s: the process exited", url)
		default:
		}
		res, err := http.Get(url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready after a minute (%v)", url, err)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}

// balance starts HAProxy with config (deploy/haproxy.cfg's text, or a
// variant) in front of the first three replicas and returns its URL (the
// first is the cluster's lbURL).
func (c *cluster) balance(config string) string {
	c.t.Helper()
	exe := need(c.t, "haproxy", "haproxy")
	path := filepath.Join(c.t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		c.t.Fatal(err)
	}
	addr := freeAddr(c.t)
	cmd := exec.Command(exe, "-db", "-f", path)
	cmd.Env = append(os.Environ(), "HANDOFF_LB_LISTEN="+addr)
	for i, r := range c.replicas[:3] {
		cmd.Env = append(cmd.Env, fmt.Sprintf("HANDOFF_REPLICA_%d=%s", i+1, r.addr))
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	c.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if c.t.Failed() {
			c.t.Logf("haproxy:\n%s", out.String())
		}
	})
	url := "http://" + addr
	c.waitReady(url, exited)
	if c.lbURL == "" {
		c.lbURL = url
	}
	return url
}

// haproxyConfig is the operator's config, deploy/haproxy.cfg.
func haproxyConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// freeAddr is a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// open gives the test its own pool and store on the (migrated) database.
func (c *cluster) open() {
	c.t.Helper()
	pool, err := db.NewPool(context.Background(), c.dbURL)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(pool.Close)
	c.pool, c.store = pool, db.NewStore(pool)
}

// user makes a user and returns it with an agent key and a person's key.
func (c *cluster) user() (uuid.UUID, string, string) {
	c.t.Helper()
	if c.store == nil {
		c.open()
	}
	u := dbtest.User(c.t, c.store)
	return u, c.token(u, auth.ScopeAgent), c.token(u, auth.ScopeUser)
}

func (c *cluster) token(u uuid.UUID, scope auth.Scope) string {
	c.t.Helper()
	tok, _, err := auth.IssueToken(context.Background(), c.store, c.keys, auth.OperatorRequest(u, "cluster test", scope))
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// count runs a count query on the database.
func (c *cluster) count(sql string, args ...any) int {
	c.t.Helper()
	var n int
	if err := c.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// Three replicas started at the same moment on an empty database all
// become ready behind the balancer, the migrations (handoff's and River's)
// applied once.
func TestReplicasStartTogether(t *testing.T) {
	t.Parallel()
	c := balancedCluster(t)
	c.open()
	if n := c.count(`SELECT count(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d migrations applied twice", n)
	}
	if n := c.count(`SELECT count(*) FROM river_migration`); n == 0 {
		t.Fatal("River's migrations were not applied")
	}
	// Each serves an agent through the balancer.
	_, agent, _ := c.user()
	for i := range 6 {
		req, _ := http.NewRequest("POST", c.lbURL+"/api/v1/messages/agent",
			strings.NewReader(fmt.Sprintf(`{"agent_instance_id":"%s","agent_type":"x","content":"hello %d"}`, uuid.NewString(), i)))
		req.Header.Set("Authorization", "Bearer "+agent)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("send %d through the balancer: %d", i, res.StatusCode)
		}
	}
}

// until polls cond (state other processes or goroutines change) for up
// to two minutes.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited two minutes for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling the database for others' writes
	}
}
