package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decoded is a file's JSON, for looking into.
func decoded(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(readFile(t, path)), &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// topKeys are an object's keys in file order.
func topKeys(t *testing.T, path string) []string {
	t.Helper()
	v, err := parseJSON([]byte(readFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range v.(*jsonObject).members {
		keys = append(keys, m.key)
	}
	return keys
}

// ourHooks are the hooks of an event that send to handoff, with the
// matcher of their group.
func ourHooks(t *testing.T, settings map[string]any, event string) (matchers []any, hooks []map[string]any) {
	t.Helper()
	groups, _ := settings["hooks"].(map[string]any)[event].([]any)
	for _, g := range groups {
		group := g.(map[string]any)
		for _, h := range group["hooks"].([]any) {
			hook := h.(map[string]any)
			url, _ := hook["url"].(string)
			cmd, _ := hook["command"].(string)
			if strings.HasSuffix(url, "/api/v1/hooks/claude-code") || strings.HasPrefix(cmd, "handoff hook") {
				matchers = append(matchers, group["matcher"])
				hooks = append(hooks, hook)
			}
		}
	}
	return matchers, hooks
}

const userSettings = `{
    "permissions": {
        "allow": ["Bash(go test:*)"]
    },
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh && echo <ok>"}]}
        ],
        "PermissionRequest": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}
        ],
        "Stop": [
            {"hooks": [
                {"type": "command", "command": "notify-send done"},
                {"type": "http", "url": "http://old.example:8080/api/v1/hooks/claude-code", "statusMessage": "Asking the person"}
            ]}
        ]
    },
    "model": "opus",
    "cleanupPeriodDays": 1e2
}
`

const userMCP = `{"mcpServers": {"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}}, "other": true}`

func TestInstallKeepsWhatIsThere(t *testing.T) {
	dir := t.TempDir()
	settingsPath, mcpPath := filepath.Join(dir, ".claude", "settings.json"), filepath.Join(dir, ".mcp.json")
	writeFile(t, settingsPath, userSettings, 0o600)
	writeFile(t, mcpPath, userMCP, 0o644)

	code, out, stderr := cli(t, nil, "install", "claude-code", "--dir", dir, "--url", "https://handoff.example/")
	if code != 0 {
		t.Fatalf("install: %d %q", code, stderr)
	}
	if !strings.Contains(out, settingsPath+": updated") || !strings.Contains(out, mcpPath+": updated") {
		t.Errorf("the report: %q", out)
	}

	if got, want := topKeys(t, settingsPath), []string{"permissions", "hooks", "model", "cleanupPeriodDays"}; !reflect.DeepEqual(got, want) {
		t.Errorf("settings keys %v, want %v (in their order)", got, want)
	}
	text := readFile(t, settingsPath)
	for _, kept := range []string{`"lint.sh && echo <ok>"`, `"audit.sh"`, `"notify-send done"`, `"Bash(go test:*)"`, `"cleanupPeriodDays": 1e2`, "\n    \"permissions\""} {
		if !strings.Contains(text, kept) {
			t.Errorf("settings lost %s:\n%s", kept, text)
		}
	}
	s := decoded(t, settingsPath)
	hooks := s["hooks"].(map[string]any)
	if got := len(hooks["PermissionRequest"].([]any)); got != 2 {
		t.Errorf("PermissionRequest has %d groups, want the user's and handoff's", got)
	}
	for _, event := range hookEvents {
		matchers, ours := ourHooks(t, s, event)
		if len(ours) != 1 {
			t.Fatalf("%s: %d hooks of handoff, want 1", event, len(ours))
		}
		h := ours[0]
		if event == "SessionStart" {
			// SessionStart runs command hooks only.
			if h["type"] != "command" || h["command"] != "handoff hook --url https://handoff.example --timeout 10s" {
				t.Errorf("SessionStart: %v", h)
			}
		} else {
			want := map[string]any{"type": "http", "url": "https://handoff.example/api/v1/hooks/claude-code",
				"headers": map[string]any{"Authorization": "Bearer $HANDOFF_API_KEY"}, "allowedEnvVars": []any{"HANDOFF_API_KEY"}, "timeout": 600.0}
			if event == "Stop" {
				want["statusMessage"] = "Asking the person" // the user's own field on handoff's hook
			}
			if !reflect.DeepEqual(h, want) {
				t.Errorf("%s: %v\nwant %v", event, h, want)
			}
		}
		switch {
		case event == "Stop" && matchers[0] != nil:
			t.Errorf("Stop takes no matcher: %v", matchers[0])
		case event != "Stop" && matchers[0] != "*":
			t.Errorf("%s: matcher %v, want *", event, matchers[0])
		}
	}
	// The old Stop hook was updated in its group, beside the user's.
	stop := hooks["Stop"].([]any)
	if len(stop) != 1 || len(stop[0].(map[string]any)["hooks"].([]any)) != 2 {
		t.Errorf("Stop: %v", stop)
	}

	if got, want := topKeys(t, mcpPath), []string{"mcpServers", "other"}; !reflect.DeepEqual(got, want) {
		t.Errorf(".mcp.json keys %v, want %v", got, want)
	}
	servers := decoded(t, mcpPath)["mcpServers"].(map[string]any)
	if _, ok := servers["github"]; !ok {
		t.Error("the user's MCP server is gone")
	}
	want := map[string]any{"type": "http", "url": "https://handoff.example/mcp/", "headers": map[string]any{"Authorization": "Bearer ${HANDOFF_API_KEY}"}}
	if !reflect.DeepEqual(servers["handoff"], want) {
		t.Errorf("mcpServers.handoff: %v", servers["handoff"])
	}

	fi, err := os.Stat(settingsPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("settings mode: %v %v", fi.Mode(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".claude", ".*handoff*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestInstallTwiceChangesNothing(t *testing.T) {
	dir := t.TempDir()
	settingsPath, mcpPath := filepath.Join(dir, ".claude", "settings.json"), filepath.Join(dir, ".mcp.json")
	writeFile(t, settingsPath, userSettings, 0o644)
	kv := map[string]string{"HANDOFF_URL": "http://10.0.0.7:8080"}

	if code, _, stderr := cli(t, kv, "install", "claude-code", "--dir", dir); code != 0 {
		t.Fatal(stderr)
	}
	settings1, mcp1 := readFile(t, settingsPath), readFile(t, mcpPath)
	code, out, stderr := cli(t, kv, "install", "claude-code", "--dir", dir)
	if code != 0 || !strings.Contains(out, settingsPath+": unchanged") || !strings.Contains(out, mcpPath+": unchanged") {
		t.Fatalf("second install: %d %q %q", code, out, stderr)
	}
	if readFile(t, settingsPath) != settings1 || readFile(t, mcpPath) != mcp1 {
		t.Error("a second install changed the files")
	}

	// Another server: handoff's hooks move there, and are still one each.
	if code, _, stderr := cli(t, kv, "install", "claude-code", "--dir", dir, "--url", "http://10.0.0.8:9090"); code != 0 {
		t.Fatal(stderr)
	}
	s := decoded(t, settingsPath)
	for _, event := range hookEvents {
		_, ours := ourHooks(t, s, event)
		if len(ours) != 1 || !strings.Contains(fmt.Sprint(ours[0]), "10.0.0.8:9090") {
			t.Errorf("%s after a new --url: %v", event, ours)
		}
	}
	if !strings.Contains(readFile(t, mcpPath), `"url": "http://10.0.0.8:9090/mcp/"`) {
		t.Errorf(".mcp.json after a new --url:\n%s", readFile(t, mcpPath))
	}
}

func TestInstallDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	mcpPath := filepath.Join(dir, ".mcp.json")
	writeFile(t, mcpPath, userMCP, 0o644)

	code, out, stderr := cli(t, nil, "install", "claude-code", "--dir", dir, "--dry-run")
	if code != 0 {
		t.Fatal(stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".claude")); !os.IsNotExist(err) {
		t.Errorf("--dry-run made .claude: %v", err)
	}
	if readFile(t, mcpPath) != userMCP {
		t.Error("--dry-run changed .mcp.json")
	}
	for _, want := range []string{
		filepath.Join(dir, ".claude", "settings.json") + " (would be created, not written):\n{\n  \"hooks\": {",
		mcpPath + " (would be updated, not written):\n{",
		`"url": "http://127.0.0.1:8080/mcp/"`,
		`"github"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
}

func TestInstallRefusesInvalidJSON(t *testing.T) {
	for _, bad := range []string{`{"hooks": {`, `{"model": "opus",}`, `["not", "an", "object"]`, `{"hooks": []}`, `{"hooks": {"Stop": {}}}`} {
		dir := t.TempDir()
		settingsPath := filepath.Join(dir, ".claude", "settings.json")
		writeFile(t, settingsPath, bad, 0o644)

		code, out, stderr := cli(t, nil, "install", "claude-code", "--dir", dir)
		if code != exitFail || !strings.Contains(stderr, settingsPath) || !strings.Contains(stderr, "nothing was changed") {
			t.Errorf("%s: %d %q %q", bad, code, out, stderr)
		}
		if readFile(t, settingsPath) != bad {
			t.Errorf("%s: the file changed", bad)
		}
		if _, err := os.Stat(filepath.Join(dir, ".mcp.json")); !os.IsNotExist(err) {
			t.Errorf("%s: .mcp.json was written anyway", bad)
		}
	}
}

func TestInstallUserWritesUnderHome(t *testing.T) {
	home, project := t.TempDir(), t.TempDir()
	t.Chdir(project)
	claudeJSON := filepath.Join(home, ".claude.json")
	writeFile(t, claudeJSON, `{"numStartups": 12, "projects": {"/src/x": {"mcpServers": {}}}, "mcpServers": {"memory": {"command": "npx", "args": ["-y", "server-memory"]}, "handoff": {"command": "handoff", "args": ["mcp-stdio"]}}}`, 0o600)

	code, out, stderr := cli(t, map[string]string{"HOME": home}, "install", "claude-code", "--user")
	if code != 0 {
		t.Fatalf("install --user: %d %q", code, stderr)
	}
	settingsPath := filepath.Join(home, ".claude", "settings.json")
	if !strings.Contains(out, settingsPath+": created") || !strings.Contains(out, claudeJSON+": updated") {
		t.Errorf("the report: %q", out)
	}
	if _, hooks := ourHooks(t, decoded(t, settingsPath), "PermissionRequest"); len(hooks) != 1 {
		t.Errorf("user settings: %v", hooks)
	}
	if got, want := topKeys(t, claudeJSON), []string{"numStartups", "projects", "mcpServers"}; !reflect.DeepEqual(got, want) {
		t.Errorf("~/.claude.json keys %v, want %v", got, want)
	}
	servers := decoded(t, claudeJSON)["mcpServers"].(map[string]any)
	if servers["memory"] == nil {
		t.Error("the user's MCP server is gone")
	}
	// A stdio entry named handoff is replaced, not mixed with http.
	want := map[string]any{"type": "http", "url": "http://127.0.0.1:8080/mcp/", "headers": map[string]any{"Authorization": "Bearer ${HANDOFF_API_KEY}"}}
	if !reflect.DeepEqual(servers["handoff"], want) {
		t.Errorf("mcpServers.handoff: %v", servers["handoff"])
	}
	for _, p := range []string{settingsPath, claudeJSON} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	if entries, _ := os.ReadDir(project); len(entries) != 0 {
		t.Errorf("--user wrote into the current directory: %v", entries)
	}
}

func TestInstallUsage(t *testing.T) {
	for _, args := range [][]string{
		{"install"},
		{"install", "cursor"},
		{"install", "claude-code", "--user", "--dir", "x"},
		{"install", "claude-code", "--url", "localhost:8080"},
		{"install", "claude-code", "--url", "http://h:1/?x=1"},
		{"install", "claude-code", "extra"},
	} {
		if code, _, stderr := cli(t, map[string]string{"HOME": t.TempDir()}, args...); code != exitConfig || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: %d %q", args, code, stderr)
		}
	}
	if code, _, stderr := cli(t, nil, "install", "claude-code", "--user"); code != exitConfig || !strings.Contains(stderr, "HOME") {
		t.Errorf("--user without HOME: %d %q", code, stderr)
	}
}

func TestInstallFollowsASymlinkedSettingsFile(t *testing.T) {
	dir, dotfiles := t.TempDir(), t.TempDir()
	real := filepath.Join(dotfiles, "claude-settings.json")
	writeFile(t, real, `{"model": "opus"}`, 0o644)
	link := filepath.Join(dir, ".claude", "settings.json")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	if code, _, stderr := cli(t, nil, "install", "claude-code", "--dir", dir); code != 0 {
		t.Fatal(stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if !strings.Contains(readFile(t, real), "PermissionRequest") {
		t.Error("the linked file was not updated")
	}
}

func TestInstallKeepsJSONAsWritten(t *testing.T) {
	in := "{\n\t\"b\": [1, 2.50, -3e-7, \"x\\u00e9<&>\\n\", true, null, {}, []],\n\t\"a\": {\"z\": 1, \"y\": 2}\n}\n"
	v, err := parseJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := string(encodeJSON(v, detectIndent([]byte(in))))
	want := "{\n\t\"b\": [\n\t\t1,\n\t\t2.50,\n\t\t-3e-7,\n\t\t\"xé<&>\\n\",\n\t\ttrue,\n\t\tnull,\n\t\t{},\n\t\t[]\n\t],\n\t\"a\": {\n\t\t\"z\": 1,\n\t\t\"y\": 2\n\t}\n}\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if again := string(encodeJSON(mustParse(t, got), detectIndent([]byte(got)))); again != got {
		t.Errorf("not a fixed point:\n%s", again)
	}
}

func mustParse(t *testing.T, s string) any {
	t.Helper()
	v, err := parseJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
