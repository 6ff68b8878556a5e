package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkSendAgentMessage is one POST /api/v1/messages/agent end to end:
// HTTP, auth (cached key row), one transaction on a real Postgres.
func BenchmarkSendAgentMessage(b *testing.B) {
	a := newBenchAPI(b)
	inst := uuid.NewString()
	body := `{"agent_instance_id":"` + inst + `","agent_type":"bench","content":"step"}`
	client := a.ts.Client()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", a.ts.URL+"/api/v1/messages/agent", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}
