package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/handoffhq/handoff/db/dbtest"
)

// root is the repository's root (tests run in their package's directory).
const root = ".."

// buildContext makes what `go tool task image` hands docker build: the
// repository's Dockerfile and .dockerignore, the state directory, and a
// static binary built now.
func buildContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "bin", "handoff"), "./cmd/handoff")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore", "deploy/state/README"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The image builds from the binary alone (FROM scratch: no registry),
// runs as an unprivileged user, reports healthy through its own
// HEALTHCHECK once it serves on PostgreSQL, and answers on its port.
func TestImageServesOnPostgres(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	nw, err := network.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })

	image := os.Getenv("TEST_POSTGRES_IMAGE")
	if image == "" {
		image = dbtest.DefaultImage
	}
	pg, err := postgres.Run(ctx, image, postgres.WithDatabase("handoff"), postgres.WithUsername("handoff"),
		postgres.WithPassword("secret"), postgres.BasicWaitStrategies(), network.WithNetwork([]string{"db"}, nw))
	if pg != nil {
		t.Cleanup(func() { _ = pg.Terminate(context.Background()) })
	}
	if err != nil {
		t.Fatal(err)
	}

	tag := fmt.Sprintf("test-%d", time.Now().UnixNano())
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			FromDockerfile: testcontainers.FromDockerfile{
				Context: buildContext(t), Repo: "handoff", Tag: tag, KeepImage: false,
			},
			Env: map[string]string{
				// No keys given: the first start makes them in the image's
				// state directory, as its unprivileged user.
				"DATABASE_URL": "postgres://handoff:secret@db:5432/handoff?sslmode=disable",
			},
			Networks:     []string{nw.Name},
			ExposedPorts: []string{"8080/tcp"},
			WaitingFor:   wait.ForHealthCheck().WithStartupTimeout(2 * time.Minute),
		},
		Started: true,
	})
	if ctr != nil {
		t.Cleanup(func() { _ = ctr.Terminate(context.Background()) })
	}
	if err != nil {
		if ctr != nil {
			if logs, lerr := ctr.Logs(ctx); lerr == nil {
				b, _ := io.ReadAll(logs)
				t.Logf("container log:\n%s", b)
			}
		}
		t.Fatalf("the image never became healthy: %v", err)
	}

	info, err := ctr.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := info.Config.User; u == "" || u == "0" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0:") {
		t.Errorf("the image runs as %q, want an unprivileged user", u)
	}

	host, err := ctr.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := ctr.MappedPort(ctx, "8080/tcp")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s:%s/readyz", host, port.Port()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz from outside the container: %s", resp.Status)
	}
}
