package db

import (
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The store counts what it commits, so REST and MCP are counted alike.
var (
	messagesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_messages_total",
		Help: "Messages written, by sender (AGENT, USER) and outcome (created, replayed: an idempotent retry).",
	}, []string{"sender", "outcome"})
	questionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_questions_total",
		Help: "Questions by outcome: asked (an agent asked for input), answered (a person's message answered one).",
	}, []string{"outcome"})
	permissionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_permission_requests_total",
		Help: "Permission requests: requested (waiting for the person), then by outcome (allow, allow_session, deny, auto_allow, expired).",
	}, []string{"outcome"})
)

func observeMessage(sender SenderType, replayed, question bool) {
	outcome := "created"
	if replayed {
		outcome = "replayed"
	}
	messagesTotal.WithLabelValues(string(sender), outcome).Inc()
	if question && !replayed {
		questionsTotal.WithLabelValues("asked").Inc()
	}
}

// metricsPool is the pool whose connections /metrics reports.
var metricsPool atomic.Pointer[pgxpool.Pool]

func init() {
	for _, state := range []string{"acquired", "idle", "total", "max"} {
		promauto.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "handoff_db_connections",
			Help:        "Connections of the database pool by state (the hub's LISTEN connection is one more).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
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
