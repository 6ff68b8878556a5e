package httpapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
)

type openAPIDoc struct {
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type openAPIOp struct {
	Responses map[string]struct {
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	// Make component refs JSON Schema refs into $defs.
	raw = []byte(strings.ReplaceAll(string(raw), "#/components/schemas/", "#/$defs/"))
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// pagePatterns are the web page's routes, which are not API.
var pagePatterns = []string{"/login", "/logout", "/sessions/", "/keys", "/static/", "/devices", "/sw.js", "/manifest.webmanifest", "/notifications"}

// Every registered route is documented, and every documented one exists.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	a := newAPI(t)
	doc := loadOpenAPI(t)
	registered := map[string]bool{}
	for _, pat := range a.srv.Patterns() {
		method, path, ok := strings.Cut(pat, " ")
		if !ok {
			continue
		}
		page := false
		for _, p := range pagePatterns {
			page = page || strings.HasPrefix(path, p)
		}
		if page {
			continue
		}
		path = strings.TrimSuffix(path, "{$}")
		key := strings.ToLower(method) + " " + path
		registered[key] = true
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in openapi.json", pat)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !registered[method+" "+path] {
				t.Errorf("openapi.json documents %s %s, which no route serves", method, path)
			}
		}
	}
	// And the document is served.
	if r := a.call("GET", "/openapi.json", "", ""); r.status != 200 || r.json(t)["openapi"] != "3.1.0" {
		t.Fatalf("/openapi.json: %d", r.status)
	}
}

// Every API route the README names (`GET /api/v1/x`, or `POST`/`GET /api/v1/x`
// for several methods) is one that openapi.json documents, so the README
// sends nobody to a route that does not exist. Path parameters match
// whatever their names.
func TestREADMENamesOnlyRealRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+param.ReplaceAllString(path, "{}")] = true
		}
	}
	methods := `GET|POST|PUT|PATCH|DELETE`
	mention := regexp.MustCompile("((?:`(?:" + methods + ")`/)*)`(" + methods + `)\s+(/api/[^\x60\s?\[]*)`)
	found := 0
	for _, m := range mention.FindAllStringSubmatch(string(readme), -1) {
		path := param.ReplaceAllString(m[3], "{}")
		for _, method := range append(strings.Split(strings.ReplaceAll(m[1], "`", ""), "/"), m[2]) {
			if method == "" {
				continue
			}
			found++
			if !documented[method+" "+path] {
				t.Errorf("the README names %s %s, which openapi.json does not document", method, m[3])
			}
		}
	}
	if found < 20 {
		t.Fatalf("only %d route mentions found in the README: the pattern no longer reads it", found)
	}
}

// What each route returns matches its documented schema (exact keys: the
// response schemas forbid others).
func TestOpenAPIShapesMatchResponses(t *testing.T) {
	a := newAPI(t)
	doc := loadOpenAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	defs, _ := json.Marshal(doc.Components.Schemas)
	check := func(method, tpl, path, token, body string, status int) map[string]any {
		t.Helper()
		r := a.call(method, path, token, body)
		if r.status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
		}
		resp, ok := doc.Paths[tpl][strings.ToLower(method)].Responses[fmt.Sprint(status)]
		ctype := "application/json"
		if !ok {
			resp, ctype = doc.Paths[tpl][strings.ToLower(method)].Responses["default"], "application/problem+json"
		}
		schemaJSON := resp.Content[ctype].Schema
		if schemaJSON == nil {
			t.Fatalf("%s %s %d: no %s schema documented", method, tpl, status, ctype)
		}
		root := fmt.Sprintf(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":%s,"allOf":[%s]}`, defs, schemaJSON)
		var sch jsonschema.Schema
		if err := json.Unmarshal([]byte(root), &sch); err != nil {
			t.Fatal(err)
		}
		rs, err := sch.Resolve(nil)
		if err != nil {
			t.Fatalf("schema of %s %s: %v", method, tpl, err)
		}
		var inst any
		if err := json.Unmarshal(r.body, &inst); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, r.body)
		}
		if err := rs.Validate(inst); err != nil {
			t.Errorf("%s %s (%d) does not match openapi.json: %v\n%s", method, tpl, status, err, r.body)
		}
		m, _ := inst.(map[string]any)
		return m
	}
	inst := uuid.NewString()
	check("POST", "/api/v1/agent-instances", "/api/v1/agent-instances", a.token, `{"agent_type":"x","agent_instance_id":"`+inst+`","transport":"ws"}`, 201)
	check("POST", "/api/v1/messages/agent", "/api/v1/messages/agent", a.token, `{"agent_instance_id":"`+inst+`","content":"step"}`, 200)
	q := check("POST", "/api/v1/messages/agent", "/api/v1/messages/agent", a.token, `{"agent_instance_id":"`+inst+`","content":"q?","requires_user_input":true}`, 200)
	qid := q["message_id"].(string)
	check("GET", "/api/v1/questions/{question_id}/answer", "/api/v1/questions/"+qid+"/answer", a.token, "", 200)
	check("GET", "/api/v1/agent-instances", "/api/v1/agent-instances", person, "", 200)
	check("POST", "/api/v1/messages/user", "/api/v1/messages/user", a.token, `{"agent_instance_id":"`+inst+`","content":"a","mark_as_read":false}`, 200)
	check("GET", "/api/v1/messages/pending", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+qid, a.token, "", 200)
	step := check("POST", "/api/v1/messages/agent", "/api/v1/messages/agent", a.token, `{"agent_instance_id":"`+inst+`","content":"plan"}`, 200)
	check("PATCH", "/api/v1/messages/{message_id}/request-input", "/api/v1/messages/"+step["message_id"].(string)+"/request-input", a.token, "", 200)
	check("POST", "/api/v1/agents/instances/{agent_instance_id}/heartbeat", "/api/v1/agents/instances/"+inst+"/heartbeat", a.token, "", 200)
	check("GET", "/api/v1/auth/verify", "/api/v1/auth/verify", a.token, "", 200)
	check("GET", "/api/v1/agent-instances/{agent_instance_id}", "/api/v1/agent-instances/"+inst, person, "", 200)
	check("GET", "/api/v1/agent-instances/{agent_instance_id}/messages", "/api/v1/agent-instances/"+inst+"/messages", person, "", 200)
	check("POST", "/api/v1/agent-instances/{agent_instance_id}/messages", "/api/v1/agent-instances/"+inst+"/messages", person, `{"content":"go"}`, 201)
	check("GET", "/api/v1/me", "/api/v1/me", person, "", 200)
	k := check("POST", "/api/v1/auth/api-keys", "/api/v1/auth/api-keys", person, `{"name":"k","expires_in_days":3}`, 201)
	r := a.call("GET", "/api/v1/auth/api-keys", person, "")
	if r.status != 200 || !strings.HasPrefix(string(r.body), "[") {
		t.Fatalf("key list: %d %s", r.status, r.body)
	}
	check("DELETE", "/api/v1/auth/api-keys/{key_id}", "/api/v1/auth/api-keys/"+k["id"].(string), person, "", 200)
	wh := check("POST", "/api/v1/webhooks", "/api/v1/webhooks", person, `{"url":"https://8.8.8.8/hook","event_types":["question.asked"],"format":"slack"}`, 201)
	if s, _ := wh["secret"].(string); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("webhook secret %v", wh["secret"])
	}
	if r := a.call("GET", "/api/v1/webhooks", person, ""); r.status != 200 || strings.Contains(string(r.body), "whsec_") {
		t.Fatalf("webhook list shows secrets: %s", r.body)
	}
	if r := a.call("GET", "/api/v1/webhooks/"+wh["id"].(string)+"/deliveries", person, ""); r.status != 200 || string(r.body) != "[]\n" {
		t.Fatalf("deliveries: %d %s", r.status, r.body)
	}
	check("POST", "/api/v1/webhooks", "/api/v1/webhooks", person, `{"url":"http://127.0.0.1/hook","event_types":["question.asked"]}`, 422)
	check("POST", "/api/v1/webhooks", "/api/v1/webhooks", person, `{"url":"https://8.8.8.8/hook","event_types":["nope"]}`, 422)
	check("DELETE", "/api/v1/webhooks/{webhook_id}", "/api/v1/webhooks/"+wh["id"].(string), person, "", 200)
	check("DELETE", "/api/v1/webhooks/{webhook_id}", "/api/v1/webhooks/"+wh["id"].(string), person, "", 404)
	check("POST", "/api/v1/sessions/end", "/api/v1/sessions/end", a.token, `{"agent_instance_id":"`+inst+`"}`, 200)
	check("GET", "/", "/", "", "", 200)
	check("GET", "/health", "/health", "", "", 200)
	check("GET", "/healthz", "/healthz", "", "", 200)
	check("GET", "/readyz", "/readyz", "", "", 200)
	// Errors are documented problems.
	check("POST", "/api/v1/messages/agent", "/api/v1/messages/agent", a.token, `{"content":5}`, 422)
	check("GET", "/api/v1/agent-instances/{agent_instance_id}", "/api/v1/agent-instances/"+uuid.NewString(), person, "", 404)
}
