package db

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The store counts what it commits, so REST and MCP are counted alike:
//
//   - handoff_messages_total{outcome, sender}: messages written, by sender
//     (AGENT, USER) and outcome (created, replayed: an idempotent retry);
//   - handoff_questions_total{outcome}: asked (an agent asked for input),
//     answered (a person's message answered one);
//   - handoff_permission_requests_total{outcome}: requested (waiting for
//     the person), then allow, allow_session, deny, auto_allow, expired.
func observeMessage(sender SenderType, replayed, question bool) {
	outcome := "created"
	if replayed {
		outcome = "replayed"
	}
	metrics.GetOrCreateCounter(`handoff_messages_total{outcome="` + outcome + `",sender="` + string(sender) + `"}`).Inc()
	if question && !replayed {
		countQuestion("asked")
	}
}

func countQuestion(outcome string) {
	metrics.GetOrCreateCounter(`handoff_questions_total{outcome="` + outcome + `"}`).Inc()
}

func countPermission(outcome string) {
	metrics.GetOrCreateCounter(`handoff_permission_requests_total{outcome="` + outcome + `"}`).Inc()
}

// metricsPool is the pool whose connections /metrics reports.
var metricsPool atomic.Pointer[pgxpool.Pool]

func init() {
	// handoff_db_connections{state}: connections of the database pool by
	// state (the hub's LISTEN connection is one more).
	for _, state := range []string{"acquired", "idle", "total", "max"} {
		metrics.NewGauge(`handoff_db_connections{state="`+state+`"}`, func() float64 {
			pool := metricsPool.Load()
			if pool == nil {
				return 0
			}
			st := pool.Stat()
			switch state {
			case "acquired":
				return float64(st.AcquiredConns())
			case "idle":
				return float64(st.IdleConns())
			case "max":
				return float64(st.MaxConns())
			}
			return float64(st.TotalConns())
		})
	}
}

// ReportPool makes /metrics report pool's connections:
// handoff_db_connections{state="acquired"|"idle"|"total"|"max"}.
func ReportPool(pool *pgxpool.Pool) { metricsPool.Store(pool) }
