package mcpapi

import (
	"net/http"
	"strings"
)

// AgentType names the agent of a request as Omnara does: the X-Client-Type
// header verbatim, else a guess from the User-Agent, else "unknown".
func AgentType(h http.Header) string {
	if ct := strings.TrimSpace(h.Get("X-Client-Type")); ct != "" {
		return ct
	}
	ua := strings.ToLower(h.Get("User-Agent"))
	switch {
	case strings.Contains(ua, "cursor"):
		return "cursor"
	case strings.Contains(ua, "claude"):
		if strings.Contains(ua, "claude-code") || strings.Contains(ua, "claude code") {
			return "claude-code"
		}
		return "claude"
	case strings.Contains(ua, "cline"):
		if strings.Contains(ua, "roo-cline") || strings.Contains(ua, "roo cline") {
			return "roo-cline"
		}
		return "cline"
	case strings.Contains(ua, "windsurf"):
		return "windsurf"
	case strings.Contains(ua, "witsy"):
		return "witsy"
	case strings.Contains(ua, "enconvo"):
		return "enconvo"
	case strings.Contains(ua, "vscode"), strings.Contains(ua, "code"):
		return "vscode"
	case strings.Contains(ua, "postman"):
		return "postman"
	}
	return "unknown"
}
