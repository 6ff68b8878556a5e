package db

import (
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
