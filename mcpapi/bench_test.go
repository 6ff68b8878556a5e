package mcpapi_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/mcpapi"
)

// BenchmarkLogStep is one log_step tool call end to end over streamable
// HTTP (stateful session): JSON-RPC, auth, one transaction on Postgres.
func BenchmarkLogStep(b *testing.B) {
	for _, kind := range []string{"streamable", "stateless"} {
		b.Run(kind, func(b *testing.B) {
			e := newEnv(b, kind, mcpapi.Config{})
			cs := e.session()
			inst := call(b, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"]
			args := map[string]any{"agent_instance_id": inst, "step_description": "step"}
			b.ResetTimer()
			for b.Loop() {
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "log_step", Arguments: args})
				if err != nil || res.IsError {
					b.Fatal(err, res)
				}
			}
		})
	}
}
