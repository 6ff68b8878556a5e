package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/mcpapi"
)

// handoff mcp-stdio: an MCP server on stdin/stdout for clients that only
// speak stdio, forwarding to a remote handoff over REST (Omnara's
// `omnara --stdio`, in one static binary).
func mcpStdio(ctx context.Context, args []string, getenv env) error {
	return serveStdio(ctx, args, getenv, os.Stdin, os.Stdout)
}

func serveStdio(ctx context.Context, args []string, getenv env, in io.ReadCloser, out io.WriteCloser) error {
	var url, key, kind string
	if _, err := flags("mcp-stdio", args, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", getenv("HANDOFF_URL"), "the handoff server (HANDOFF_URL)")
		fs.StringVar(&key, "api-key", getenv("HANDOFF_API_KEY"), "an agent key (HANDOFF_API_KEY)")
		fs.StringVar(&kind, "client-type", getenv("HANDOFF_CLIENT_TYPE"), "agent type of new sessions (HANDOFF_CLIENT_TYPE)")
	}); err != nil {
		return err
	}
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	if key == "" {
		return usagef("mcp-stdio needs an agent key: --api-key or HANDOFF_API_KEY")
	}
	wait := mcpapi.DefaultWait
	if v := getenv("HANDOFF_MCP_WAIT"); v != "" {
		d, err := parseSeconds(v)
		if err != nil || d <= 0 {
			return usagef("HANDOFF_MCP_WAIT must be a positive duration such as 50s, not %q", v)
		}
		wait = d
	}
	server := mcpapi.NewStdio(mcpapi.StdioConfig{Client: client.New(url, key, nil), AgentType: kind, Wait: wait})
	return server.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
}
