package db

import (
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

// RegisterPoolMetrics exports the pool's connection counts:
// handoff_db_connections{state="acquired"|"idle"|"total"|"max"}.
func RegisterPoolMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) error {
	for _, state := range []string{"acquired", "idle", "total", "max"} {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "handoff_db_connections",
			Help:        "Connections of the database pool by state (the hub's LISTEN connection is one more).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
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
		if err := reg.Register(g); err != nil {
			return err
		}
	}
	return nil
}
