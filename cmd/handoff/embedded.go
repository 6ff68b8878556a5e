package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/internal/embedpg"
)

// startEmbedded runs the private PostgreSQL of the embedded default: with
// the machine's server binaries, else in Docker. HANDOFF_EMBEDDED_POSTGRES
// (binaries or docker) forces one; HANDOFF_POSTGRES_IMAGE names the image.
func startEmbedded(ctx context.Context, cfg serveConfig, log *slog.Logger) (*embedpg.Server, error) {
	dir := filepath.Join(cfg.dataDir, "postgres")
	mode := cfg.embeddedPostgres
	if mode != "docker" {
		bin, err := embedpg.FindBinaries()
		if err == nil {
			return embedpg.Start(ctx, bin, dir, log)
		}
		if mode == "binaries" || !embedpg.DockerAvailable() {
			return nil, fmt.Errorf("no DATABASE_URL, and %w, nor Docker: install PostgreSQL's server (Debian: apt-get install postgresql), start Docker, or set DATABASE_URL", err)
		}
	}
	return embedpg.StartDocker(ctx, cfg.postgresImage, dir, log)
}

// firstRunMarker records that the first start's keys were printed.
const firstRunMarker = "first-run-done"

// firstRun makes, on the embedded default's first start, a default user,
// an agent key and a sign-in token, and prints them once with a
// ready-to-paste MCP client config.
func firstRun(ctx context.Context, store *db.Store, keys *auth.Keys, dataDir, base string, out io.Writer) error {
	marker := filepath.Join(dataDir, firstRunMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	u, err := store.CreateUser(ctx, "you@handoff.local", nil)
	if err != nil {
		return fmt.Errorf("first run: %w", err)
	}
	agentKey, _, err := auth.IssueToken(ctx, store, keys, auth.OperatorRequest(u.ID, "first agent key", auth.ScopeAgent))
	if err != nil {
		return err
	}
	userKey, _, err := auth.IssueToken(ctx, store, keys, auth.OperatorRequest(u.ID, "web sign-in", auth.ScopeUser))
	if err != nil {
		return err
	}
	base = strings.TrimRight(base, "/")
	fmt.Fprintf(out, `
handoff is ready, with its own PostgreSQL and keys in %s.
These are shown once; keep them somewhere safe.

  Sign in to the web page:  %s/#token=%s

  Agent key:  %s

  MCP client config for Claude Code's .mcp.json (for Cursor, Claude
  Desktop or your own agent, change X-Client-Type: it names the agent):
  {"mcpServers": {"handoff": {"type": "http", "url": "%s/mcp/",
    "headers": {"Authorization": "Bearer %s", "X-Client-Type": "Claude Code"}}}}

`, dataDir, base, userKey, agentKey, base, agentKey)
	return os.WriteFile(marker, []byte(u.ID.String()+"\n"), 0o600)
}
