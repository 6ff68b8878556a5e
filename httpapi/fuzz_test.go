package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
)

// The request parsers never panic, and either produce a request the store
// can take, for the principal, or a 4xx request error.
func FuzzParseSendAgentMessage(f *testing.F) {
	id := uuid.NewString()
	f.Add(`{"agent_instance_id":"` + id + `","content":"x","agent_type":"a","requires_user_input":true}`)
	f.Add(`{"agent_instance_id":"` + id + `","content":"x","message_metadata":{"a":[1,2]},"git_diff":null}`)
	f.Add(`{"content":5}`)
	f.Add(`[]`)
	f.Add(`{"agent_instance_id":"` + id + `","content":"\u0000"} x`)
	p := auth.Principal{UserID: uuid.New(), Scope: auth.ScopeAgent}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/messages/agent", strings.NewReader(body))
		params, err := parseSendAgentMessage(r, httptest.NewRecorder(), p)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.status < 400 || re.status > 499 || re.detail == "" {
				t.Fatalf("error %v is not a 4xx request error", err)
			}
			return
		}
		if params.UserID != p.UserID || params.IdempotencyKey != "" {
			t.Fatalf("accepted %q as %+v", body, params)
		}
	})
}
