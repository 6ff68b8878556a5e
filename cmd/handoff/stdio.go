package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/internal/mcpproxy"
)

// handoff mcp-stdio: an MCP server on stdin/stdout for clients that only
// speak stdio (Omnara's `omnara --stdio`, in one static binary). It proxies
// the server's own /mcp/ endpoint: the same tools, schemas and results,
// with the server's step numbers and waits.
func mcpStdio(ctx context.Context, args []string, getenv env, stderr io.Writer) error {
	return serveStdio(ctx, args, getenv, os.Stdin, os.Stdout, stderr)
}

func serveStdio(ctx context.Context, args []string, getenv env, in io.ReadCloser, out io.WriteCloser, stderr io.Writer) error {
	cfg, err := loadStdioConfig(args, getenv)
	if err != nil {
		return err
	}
	h := http.Header{"Authorization": {"Bearer " + cfg.key}}
	if cfg.clientType != "" {
		h.Set("X-Client-Type", cfg.clientType)
	}
	// stdout is the MCP transport: the go-sdk's warnings go to stderr.
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return mcpproxy.Run(ctx, mcpproxy.Config{
		Endpoint: strings.TrimRight(cfg.url, "/") + "/mcp/", Header: h, Log: log, Version: version(),
	}, &mcp.IOTransport{Reader: in, Writer: out})
}
