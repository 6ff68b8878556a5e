package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// api is a real server (real store, real auth) on a fresh database, with a
// user and an agent key.
type api struct {
	server *testserver.Server
	srv    *httpapi.Server
	t      testing.TB
	ts     *httptest.Server
	pool   *pgxpool.Pool
	store  *db.Store
	keys   *auth.Keys
	user   uuid.UUID
	token  string
}

func newAPI(t *testing.T) *api {
	t.Parallel()
	return newBenchAPI(t)
}

// newBenchAPI is newAPI for any testing.TB (benchmarks do not run in
// parallel).
func newBenchAPI(t testing.TB) *api { return apiWith(t, testserver.Options{}) }

// apiWith is a server started with opts, with a user and an agent key.
func apiWith(t testing.TB, opts testserver.Options) *api {
	srv := testserver.New(t, opts)
	a := &api{srv: srv.API, t: t, ts: srv.TS, pool: srv.Pool, store: srv.Store, keys: srv.Keys, server: srv}
	a.user, a.token = a.newUser()
	return a
}

// newUser makes a user with an agent key.
func (a *api) newUser() (uuid.UUID, string) {
	a.t.Helper()
	u := a.server.User()
	return u, a.tokenFor(u, auth.ScopeAgent)
}

// tokenFor issues a token of scope for user.
func (a *api) tokenFor(user uuid.UUID, scope auth.Scope) string {
	a.t.Helper()
	return a.server.Token(user, scope)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// call sends a request with the given bearer token ("" for none); extra
// headers come as name, value pairs.
func (a *api) call(method, path, token, body string, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.ts.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// ok calls with the user's token and wants status want and a JSON object.
func (a *api) ok(want int, method, path, body string) map[string]any {
	a.t.Helper()
	r := a.call(method, path, a.token, body)
	if r.status != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		a.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return r.json(a.t)
}

func (a *api) count(table string) int {
	a.t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wantKeys fails unless m has exactly the given keys.
func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := keys(m); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: keys %v, want exactly %v", what, got, want)
	}
}

// wantFields fails unless each named field equals its value (as JSON).
func wantFields(t *testing.T, what string, m map[string]any, fields map[string]any) {
	t.Helper()
	for k, want := range fields {
		got, _ := json.Marshal(m[k])
		w, _ := json.Marshal(want)
		if !bytes.Equal(got, w) {
			t.Errorf("%s: %s = %s, want %s", what, k, got, w)
		}
	}
}

var omnaraTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$`)

// wantMessage checks one MessageResponse: exactly Omnara's five keys.
func wantMessage(t *testing.T, v any, id, content, sender string, question bool) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("message %v is not an object", v)
	}
	wantKeys(t, "MessageResponse", m, "id", "content", "sender_type", "created_at", "requires_user_input")
	wantFields(t, "MessageResponse", m, map[string]any{
		"content": content, "sender_type": sender, "requires_user_input": question,
	})
	if id != "" && m["id"] != id {
		t.Errorf("message id %v, want %s", m["id"], id)
	}
	if s, _ := m["created_at"].(string); !omnaraTime.MatchString(s) {
		t.Errorf("created_at %q is not Omnara's naive isoformat", m["created_at"])
	}
}

func list(t *testing.T, v any) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a list", v)
	}
	return l
}
