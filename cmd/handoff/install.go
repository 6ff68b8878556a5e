package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// handoff install claude-code: merges handoff into Claude Code's settings,
// so that its permission prompts, notifications and stops reach the
// person, and its headless runs can ask them through MCP.
//
// Project scope (the default): DIR/.claude/settings.json gets the hooks,
// DIR/.mcp.json the MCP server. User scope (--user): ~/.claude/settings.json
// and ~/.claude.json, whose top-level mcpServers are the user's servers.
//
// Everything else in those files stays as it was, in its order: other
// settings, other servers, other hooks. handoff's own hooks are known by
// their target (the hook endpoint, or the handoff hook command) and are
// updated where they stand, so a second run changes nothing. Neither file
// is written unless both can be: a file that is not valid JSON is an error.

// hookEvents are the Claude Code events handoff hooks, in the order they
// are added.
var hookEvents = []string{"PermissionRequest", "Notification", "Stop", "SubagentStop", "SessionStart", "SessionEnd"}

// noMatcher are the events whose hooks take no matcher (Claude Code
// ignores one there).
var noMatcher = map[string]bool{"Stop": true}

// commandOnly are the events that run only command hooks, not http ones
// (Claude Code's hooks reference: SessionStart takes command and mcp_tool
// hooks); there, handoff's hook is the handoff hook command.
var commandOnly = map[string]bool{"SessionStart": true}

func installCmd(args []string, getenv env, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "claude-code" {
		return usagef("install needs its target: handoff install claude-code [--dir DIR | --user] [--url U] [--dry-run]")
	}
	var dir, server string
	var user, dryRun bool
	fset, err := flags("install claude-code", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "dir", "", "the project (default: the current directory)")
		fs.BoolVar(&user, "user", false, "install for every project of this user (~/.claude)")
		fs.StringVar(&server, "url", getenv("HANDOFF_URL"), "the handoff server (HANDOFF_URL)")
		fs.BoolVar(&dryRun, "dry-run", false, "print the files instead of writing them")
	})
	if err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usagef("install claude-code takes no arguments, not %q", fset.Arg(0))
	}
	if user && dir != "" {
		return usagef("install claude-code: --dir and --user exclude each other")
	}
	if server, err = serverURL(server); err != nil {
		return usagef("install claude-code: %v", err)
	}

	var settings, mcp installFile
	if user {
		home := getenv("HOME")
		if home == "" {
			return usagef("install claude-code --user needs HOME")
		}
		settings = installFile{path: filepath.Join(home, ".claude", "settings.json"), mode: 0o600}
		mcp = installFile{path: filepath.Join(home, ".claude.json"), mode: 0o600}
	} else {
		if dir == "" {
			dir = "."
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return err
		}
		settings = installFile{path: filepath.Join(dir, ".claude", "settings.json"), mode: 0o644}
		mcp = installFile{path: filepath.Join(dir, ".mcp.json"), mode: 0o644}
	}
	settings.merge = func(root *jsonObject) ([]string, error) { return mergeHooks(root, server) }
	mcp.merge = func(root *jsonObject) ([]string, error) { return mergeMCPServer(root, server) }

	// Every file is read and merged before any is written.
	files := []*installFile{&settings, &mcp}
	for _, f := range files {
		if err := f.plan(); err != nil {
			return fmt.Errorf("%s: %w; nothing was changed", f.path, err)
		}
	}
	for _, f := range files {
		if dryRun {
			fmt.Fprintf(stdout, "%s (%s, not written):\n%s", f.path, f.verb(true), f.content)
			continue
		}
		if f.unchanged() {
			fmt.Fprintf(stdout, "%s: unchanged, handoff is already in it\n", f.path)
			continue
		}
		if err := f.write(); err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		fmt.Fprintf(stdout, "%s: %s (%s)\n", f.path, f.verb(false), strings.Join(f.changes, "; "))
	}
	if !dryRun {
		fmt.Fprintln(stdout, "Claude Code sends the agent key from HANDOFF_API_KEY: export one (an agent-scoped key) where it runs.")
	}
	return nil
}

// installFile is one settings file: what it holds, and what it will.
type installFile struct {
	path    string
	mode    fs.FileMode // of a new file; an existing one keeps its own
	merge   func(*jsonObject) ([]string, error)
	old     []byte // nil when there is no file
	content []byte
	changes []string
}

func (f *installFile) plan() error {
	old, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return err
	case old == nil:
		old = []byte{}
	}
	root := &jsonObject{}
	if len(bytes.TrimSpace(old)) > 0 {
		v, err := parseJSON(old)
		if err != nil {
			return fmt.Errorf("not valid JSON (%v)", err)
		}
		o, ok := v.(*jsonObject)
		if !ok {
			return errors.New("not a JSON object")
		}
		root = o
	}
	f.old = old
	if f.changes, err = f.merge(root); err != nil {
		return err
	}
	f.content = encodeJSON(root, detectIndent(old))
	return nil
}

func (f *installFile) unchanged() bool { return f.old != nil && bytes.Equal(f.old, f.content) }

func (f *installFile) verb(dryRun bool) string {
	switch {
	case f.old == nil && dryRun:
		return "would be created"
	case f.old == nil:
		return "created"
	case f.unchanged():
		return "unchanged"
	case dryRun:
		return "would be updated"
	}
	return "updated"
}

// write replaces the file at once (a temporary file renamed over it),
// keeping its mode; through a symbolic link, the file linked to is
// replaced.
func (f *installFile) write() error {
	target, mode := f.path, f.mode
	if real, err := filepath.EvalSymlinks(f.path); err == nil {
		target = real
	}
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".handoff-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	_, err = tmp.Write(f.content)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// mergeHooks puts handoff's hook under each of hookEvents in the settings
// root, and says what changed.
func mergeHooks(root *jsonObject, server string) ([]string, error) {
	hooksVal, ok := root.get("hooks")
	if !ok {
		hooksVal = &jsonObject{}
		root.set("hooks", hooksVal)
	}
	hooks, ok := hooksVal.(*jsonObject)
	if !ok {
		return nil, errors.New(`"hooks" is not an object`)
	}
	var added, updated []string
	for _, event := range hookEvents {
		before, had := hooks.get(event)
		var groups []any
		if had {
			if groups, ok = before.([]any); !ok {
				return nil, fmt.Errorf(`"hooks.%s" is not a list`, event)
			}
		}
		var beforeText []byte
		if had {
			beforeText = encodeJSON(before, "")
		}
		groups = mergeEventHooks(groups, event, server)
		hooks.set(event, groups)
		switch {
		case !had:
			added = append(added, event)
		case !bytes.Equal(beforeText, encodeJSON(groups, "")):
			updated = append(updated, event)
		}
	}
	var changes []string
	if len(added) > 0 {
		changes = append(changes, "hooks added for "+strings.Join(added, ", "))
	}
	if len(updated) > 0 {
		changes = append(changes, "hooks updated for "+strings.Join(updated, ", "))
	}
	return changes, nil
}

// mergeEventHooks updates handoff's hook in the event's matcher groups
// where it stands (dropping any second copy), or adds a group for it.
func mergeEventHooks(groups []any, event, server string) []any {
	ours, isOurs := httpHook(server), isOurHTTPHook
	if commandOnly[event] {
		ours, isOurs = commandHook(server), isOurCommandHook
	}
	found := false
	out := make([]any, 0, len(groups)+1)
	for _, g := range groups {
		group, ok := g.(*jsonObject)
		if !ok {
			out = append(out, g)
			continue
		}
		hv, _ := group.get("hooks")
		hs, ok := hv.([]any)
		if !ok {
			out = append(out, g)
			continue
		}
		kept := make([]any, 0, len(hs))
		for _, h := range hs {
			if !isOurs(h) {
				kept = append(kept, h)
				continue
			}
			if found {
				continue // a second copy of ours
			}
			found = true
			mergeInto(h.(*jsonObject), ours)
			kept = append(kept, h)
		}
		if len(kept) == 0 && len(hs) > 0 {
			continue // the group held only copies of ours
		}
		if len(kept) != len(hs) {
			group.set("hooks", kept)
		}
		out = append(out, g)
	}
	if !found {
		group := &jsonObject{}
		if !noMatcher[event] {
			group.set("matcher", "*")
		}
		group.set("hooks", []any{ours})
		out = append(out, group)
	}
	return out
}

// httpHook is handoff's hook for Claude Code: the event is posted to the
// server with the agent key from HANDOFF_API_KEY, and the wait for the
// person (the server's is 540 s) fits in its timeout.
func httpHook(server string) *jsonObject {
	return objectOf(
		"type", "http",
		"url", server+hookPath,
		"headers", objectOf("Authorization", "Bearer $HANDOFF_API_KEY"),
		"allowedEnvVars", []any{"HANDOFF_API_KEY"},
		"timeout", json.Number("600"),
	)
}

// commandHook is handoff's hook where only commands run: handoff hook,
// found on PATH, with the key from HANDOFF_API_KEY. Session start waits for
// no person, so it is short.
func commandHook(server string) *jsonObject {
	return objectOf(
		"type", "command",
		"command", "handoff hook --url "+shellQuote(server)+" --timeout 10s",
		"timeout", json.Number("15"),
	)
}

func isOurHTTPHook(v any) bool {
	h, ok := v.(*jsonObject)
	if !ok || h.str("type") != "http" {
		return false
	}
	u, err := url.Parse(h.str("url"))
	return err == nil && strings.HasSuffix(u.Path, hookPath)
}

func isOurCommandHook(v any) bool {
	h, ok := v.(*jsonObject)
	if !ok || h.str("type") != "command" {
		return false
	}
	words := strings.Fields(h.str("command"))
	if len(words) < 2 || words[1] != "hook" {
		return false
	}
	name := path.Base(filepath.ToSlash(strings.Trim(words[0], `"'`)))
	return name == "handoff" || name == "handoff.exe"
}

// mergeMCPServer makes mcpServers.handoff the server's MCP endpoint.
func mergeMCPServer(root *jsonObject, server string) ([]string, error) {
	serversVal, ok := root.get("mcpServers")
	if !ok {
		serversVal = &jsonObject{}
		root.set("mcpServers", serversVal)
	}
	servers, ok := serversVal.(*jsonObject)
	if !ok {
		return nil, errors.New(`"mcpServers" is not an object`)
	}
	ours := objectOf(
		"type", "http",
		"url", server+"/mcp/",
		"headers", objectOf("Authorization", "Bearer ${HANDOFF_API_KEY}"),
	)
	cur, had := servers.get("handoff")
	before := encodeJSON(cur, "")
	// An http entry keeps what else it has (another header, say); a stdio
	// one (handoff mcp-stdio) is replaced, as its command would not fit.
	if co, ok := cur.(*jsonObject); ok && !co.has("command") {
		mergeInto(co, ours)
	} else {
		servers.set("handoff", ours)
	}
	after, _ := servers.get("handoff")
	switch {
	case !had:
		return []string{`MCP server "handoff" added`}, nil
	case !bytes.Equal(before, encodeJSON(after, "")):
		return []string{`MCP server "handoff" updated`}, nil
	}
	return nil, nil
}

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// JSON with its object keys in file order: Claude Code's settings are
// edited by people, and a merge should not reorder them.

// jsonObject is an object's members in order. Values are *jsonObject,
// []any, string, json.Number, bool or nil.
type jsonObject struct{ members []jsonMember }

type jsonMember struct {
	key string
	val any
}

func objectOf(kv ...any) *jsonObject {
	o := &jsonObject{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *jsonObject) get(key string) (any, bool) {
	for _, m := range o.members {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

func (o *jsonObject) has(key string) bool { _, ok := o.get(key); return ok }

func (o *jsonObject) str(key string) string {
	v, _ := o.get(key)
	s, _ := v.(string)
	return s
}

// set replaces the key's value where it stands, or appends the key.
func (o *jsonObject) set(key string, val any) {
	for i := range o.members {
		if o.members[i].key == key {
			o.members[i].val = val
			return
		}
	}
	o.members = append(o.members, jsonMember{key, val})
}

// mergeInto sets src's members in dst: objects member by member, lists by
// adding what is missing, anything else replaced.
func mergeInto(dst, src *jsonObject) {
	for _, m := range src.members {
		cur, ok := dst.get(m.key)
		if ok {
			switch sv := m.val.(type) {
			case *jsonObject:
				if co, ok := cur.(*jsonObject); ok {
					mergeInto(co, sv)
					continue
				}
			case []any:
				if cl, ok := cur.([]any); ok {
					for _, e := range sv {
						if !containsJSON(cl, e) {
							cl = append(cl, e)
						}
					}
					dst.set(m.key, cl)
					continue
				}
			}
		}
		dst.set(m.key, m.val)
	}
}

func containsJSON(list []any, v any) bool {
	want := encodeJSON(v, "")
	for _, e := range list {
		if bytes.Equal(encodeJSON(e, ""), want) {
			return true
		}
	}
	return false
}

// parseJSON decodes one JSON value, keeping numbers as written.
func parseJSON(data []byte) (any, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for the message
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return decodeValue(dec)
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &jsonObject{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			o.set(kt.(string), v) // a repeated key: the last value, in the first place
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		list := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.Token()
		return list, err
	}
	return tok, nil
}

// encodeJSON writes v with each member and element on its own line,
// indented by indent (none: on one line), as Claude Code writes its files.
func encodeJSON(v any, indent string) []byte {
	var b bytes.Buffer
	writeJSON(&b, v, indent, 0)
	if indent != "" {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any, indent string, depth int) {
	newline := func(d int) {
		if indent != "" {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(indent, d))
		}
	}
	switch v := v.(type) {
	case *jsonObject:
		if len(v.members) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			writeString(b, m.key)
			b.WriteByte(':')
			if indent != "" {
				b.WriteByte(' ')
			}
			writeJSON(b, m.val, indent, depth+1)
		}
		newline(depth)
		b.WriteByte('}')
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			writeJSON(b, e, indent, depth+1)
		}
		newline(depth)
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		fmt.Fprint(b, v)
	default:
		b.WriteString("null")
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false) // "a && b" stays as written
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// detectIndent is the indentation of a file's first indented line (its
// first member's), or two spaces, Claude Code's own.
func detectIndent(data []byte) string {
	lines := bytes.Split(data, []byte("\n"))
	for _, line := range lines[1:] {
		rest := bytes.TrimLeft(line, " \t")
		if len(bytes.TrimSpace(rest)) == 0 {
			continue
		}
		if ind := line[:len(line)-len(rest)]; len(ind) > 0 {
			return string(ind)
		}
		break
	}
	return "  "
}
