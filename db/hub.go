package db

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// NotifyChannel is the channel changes are announced on: the payload is
// the changed instance's id and its user's id ("<instance> <user>"), ids
// only, and the hub wakes the waiters keyed by either. The schema sends
// it (triggers on events and on the read cursor, migration 00006), so no
// write can forget to.
const NotifyChannel = "handoff_change"

// ListenerAppName is the application_name of the hub's connection.
const ListenerAppName = "handoff-listener"

var waitersGauge = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "handoff_waiters",
	Help: "Requests waiting for a change of an instance (answers, long polls).",
})

// Hub fans PostgreSQL notifications out to the waiters of this process:
// one LISTEN connection, whatever the number of waiters, and none of them
// holds a database connection while it waits. Every change to an instance
// notifies (a trigger, inside its transaction, ids only), so a waiter is
// woken when a change commits on any replica. After each (re)connect every waiter is
// woken to look again, since notifications may have been missed.
type Hub struct {
	listener *pgxlisten.Listener
	log      *slog.Logger

	mu     sync.Mutex
	subs   map[uuid.UUID]map[*Subscription]struct{}
	closed bool

	listening chan struct{} // closed once the first connection listens on every channel
	once      sync.Once
	backlogs  atomic.Int64
	stopped   chan struct{} // closed by Close
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewHub returns a hub that listens through its own connection made from
// cfg (it is not taken from any pool). Start runs it.
func NewHub(cfg *pgx.ConnConfig, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = ListenerAppName
	h := &Hub{log: log, subs: map[uuid.UUID]map[*Subscription]struct{}{}, listening: make(chan struct{}), done: make(chan struct{}),
		stopped: make(chan struct{})}
	h.listener = &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) },
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil { // not the shutdown
				h.log.WarnContext(ctx, "listener", "err", err)
			}
		},
		ReconnectDelay: 250 * time.Millisecond,
	}
	for _, ch := range hubChannels {
		h.listener.Handle(ch, hubHandler{h})
	}
	return h
}

// Start listens in the background until Close.
func (h *Hub) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		_ = h.listener.Listen(ctx)
	}()
}

// Close stops listening and wakes every waiter, which then returns what it
// has (shutdown does not keep requests waiting).
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		close(h.stopped)
	}
	h.closed = true
	h.mu.Unlock()
	h.wakeAll()
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
}

// Stopped is closed when the hub closes (the process shuts down): streams
// end then.
func (h *Hub) Stopped() <-chan struct{} { return h.stopped }

// Listening is closed once the hub has listened at least once.
func (h *Hub) Listening() <-chan struct{} { return h.listening }

// Waiting is the number of open subscriptions.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.subs {
		n += len(s)
	}
	return n
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Subscription receives a signal on C when its instance may have changed.
// Signals do not queue up: one pending signal stands for any number.
type Subscription struct {
	C   <-chan struct{}
	c   chan struct{}
	id  uuid.UUID
	hub *Hub
}

// Subscribe registers interest in an instance; Close the subscription when
// done.
func (h *Hub) Subscribe(id uuid.UUID) *Subscription {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, id: id, hub: h}
	h.mu.Lock()
	m := h.subs[id]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[id] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	waitersGauge.Inc()
	return s
}

// Close removes the subscription.
func (s *Subscription) Close() {
	h := s.hub
	if h == nil {
		return
	}
	h.mu.Lock()
	if m := h.subs[s.id]; m != nil {
		if _, ok := m[s]; ok {
			delete(m, s)
			waitersGauge.Dec()
		}
		if len(m) == 0 {
			delete(h.subs, s.id)
		}
	}
	h.mu.Unlock()
}

func (s *Subscription) wake() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

func (h *Hub) wake(id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[id] {
		s.wake()
	}
}

func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for s := range m {
			s.wake()
		}
	}
}

type hubHandler struct{ h *Hub }

func (hh hubHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	for _, f := range strings.Fields(n.Payload) {
		if id, err := uuid.Parse(f); err == nil {
			hh.h.wake(id)
		}
	}
	return nil
}

// HandleBacklog runs after every LISTEN, the first and each reconnect:
// anything may have changed meanwhile, so every waiter looks again.
func (hh hubHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	hh.h.wakeAll()
	// Listening means listening on every channel.
	if hh.h.backlogs.Add(1) == int64(len(hubChannels)) {
		hh.h.once.Do(func() { close(hh.h.listening) })
	}
	return nil
}

// hubChannels are the channels the hub listens on.
var hubChannels = []string{NotifyChannel}

// waitFor calls check until it reports done, then returns; it also
// returns when ctx ends, deadline passes or the hub closes, after at least
// one check. Between checks it sleeps until the hub signals a change of
// the instance, holding no database connection.
func (s *Store) waitFor(ctx context.Context, instanceID uuid.UUID, deadline time.Time, check func() (bool, error)) error {
	if s.hub == nil {
		_, err := check()
		return err
	}
	sub := s.hub.Subscribe(instanceID)
	defer sub.Close()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 || s.hub.isClosed() {
			return nil
		}
		t := time.NewTimer(left)
		select {
		case <-sub.C:
			t.Stop()
		case <-t.C:
			return nil
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}
