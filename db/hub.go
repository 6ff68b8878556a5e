package db

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
)

// NotifyChannel is the channel changes are announced on: the payload is
// the changed instance's id and its user's id ("<instance> <user>"), ids
// only, and the hub wakes the waiters keyed by either. The schema sends
// it (triggers on events and on the read cursor, migration 00006), so no
// write can forget to; and only for ids some hub watches (migration
// 00007), so a change nobody waits for costs no NOTIFY.
const NotifyChannel = "handoff_change"

// ListenerAppName is the application_name of the hub's connection.
const ListenerAppName = "handoff-listener"

// watchLinger is how long a hub keeps watching an id after its last
// waiter left: an agent that long-polls in a loop, or a page that
// reconnects, does not add and remove the watch every time.
const watchLinger = 30 * time.Second

// waiters counts the requests waiting for a change of an instance
// (answers, long polls): the handoff_waiters gauge.
var waiters atomic.Int64

func init() {
	metrics.NewGauge("handoff_waiters", func() float64 { return float64(waiters.Load()) })
}

// Hub fans PostgreSQL notifications out to the waiters of this process:
// one LISTEN connection, whatever the number of waiters, and none of them
// holds a database connection while it waits. A subscription first
// watches its id (a row in handoff_watches, keyed by the listening
// connection), and every change to a watched id notifies (a trigger,
// inside its transaction, ids only), so a waiter is woken when a change
// commits on any replica. After each (re)connect the hub watches its ids
// again and every waiter is woken to look again, since notifications may
// have been missed.
type Hub struct {
	listener *pgxlisten.Listener
	pool     *pgxpool.Pool
	log      *slog.Logger
	pid      atomic.Int32 // backend pid of the listening connection
	linger   time.Duration

	mu      sync.Mutex
	watches map[uuid.UUID]*watching
	closed  bool

	listening chan struct{} // closed once the first connection listens on every channel
	once      sync.Once
	backlogs  atomic.Int64
	stopped   chan struct{} // closed by Close
	cancel    context.CancelFunc
	done      chan struct{}
}

// watching is one id's subscriptions (guarded by Hub.mu) and whether its
// row is in handoff_watches (guarded by mu, which orders adding and
// removing the row).
type watching struct {
	subs       map[*Subscription]struct{}
	mu         sync.Mutex
	registered bool
}

// HubOption tunes NewHub.
type HubOption func(*pgx.ConnConfig) *pgx.ConnConfig

// ListenThrough makes the hub's LISTEN connection one like direct's: for
// a pool that goes through a connection pooler in transaction mode
// (PgBouncer's), which hands each transaction to any server connection
// and so loses a LISTEN, while direct reaches PostgreSQL itself.
func ListenThrough(direct *pgxpool.Pool) HubOption {
	return func(*pgx.ConnConfig) *pgx.ConnConfig { return direct.Config().ConnConfig.Copy() }
}

// NewHub returns a hub on pool's database: it listens through its own
// connection (not taken from the pool; opened like the pool's, unless an
// option says otherwise) and watches ids through the pool. Start runs it.
func NewHub(pool *pgxpool.Pool, log *slog.Logger, opts ...HubOption) *Hub {
	if log == nil {
		log = slog.Default()
	}
	cfg := pool.Config().ConnConfig.Copy()
	for _, o := range opts {
		cfg = o(cfg)
	}
	// The listener waits for notifications as long as there are none: not
	// the pool's bounded reads.
	cfg.DialFunc = (&net.Dialer{KeepAlive: 5 * time.Minute}).DialContext
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = ListenerAppName
	h := &Hub{pool: pool, log: log, linger: watchLinger, watches: map[uuid.UUID]*watching{}, listening: make(chan struct{}), done: make(chan struct{}),
		stopped: make(chan struct{})}
	h.listener = &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return nil, err
			}
			// The new connection's pid names this hub's watches from now on;
			// those of connections that are gone (this hub's last one among
			// them) are removed. HandleBacklog watches this hub's ids again.
			q := New(conn)
			pid, err := q.ListenerPID(ctx)
			if err == nil {
				h.pid.Store(pid)
				_, err = q.DeleteStaleWatches(ctx)
			}
			if err != nil {
				_ = conn.Close(ctx)
				return nil, err
			}
			return conn, nil
		},
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

// Close stops listening, ends this hub's watches and wakes every waiter,
// which then returns what it has (shutdown does not keep requests
// waiting).
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
	// Best effort: left behind, the rows only cost notifications until a
	// hub connects and removes them.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if pid := h.pid.Load(); pid != 0 {
		_ = New(h.pool).UnwatchListener(ctx, pid)
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
	for _, w := range h.watches {
		n += len(w.subs)
	}
	return n
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Subscription receives a signal on C when its id may have changed.
// Signals do not queue up: one pending signal stands for any number.
type Subscription struct {
	C   <-chan struct{}
	c   chan struct{}
	id  uuid.UUID
	hub *Hub
}

// Subscribe registers interest in an id (an instance's or a user's) and
// returns once the hub watches it: every change to it that commits later
// wakes the subscription, and every change that committed earlier is
// visible to a read started after Subscribe returns. Close the
// subscription when done.
func (h *Hub) Subscribe(ctx context.Context, id uuid.UUID) (*Subscription, error) {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, id: id, hub: h}
	h.mu.Lock()
	w := h.watches[id]
	if w == nil {
		w = &watching{subs: map[*Subscription]struct{}{}}
		h.watches[id] = w
	}
	w.subs[s] = struct{}{}
	h.mu.Unlock()
	waiters.Add(1)
	if err := h.watch(ctx, id, w); err != nil {
		s.Close()
		return nil, fmt.Errorf("watch: %w", err)
	}
	return s, nil
}

// watch adds id's row unless it is there. Should the listener reconnect
// meanwhile, the row is added again for the new connection (the old one's
// rows are removed as stale).
func (h *Hub) watch(ctx context.Context, id uuid.UUID, w *watching) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.registered {
		return nil
	}
	for {
		pid := h.pid.Load()
		if err := New(h.pool).Watch(ctx, WatchParams{ID: id, Listener: pid}); err != nil {
			return err
		}
		if h.pid.Load() == pid {
			break
		}
	}
	w.registered = true
	return nil
}

// unwatch removes id's row once no subscription has wanted it for
// watchLinger.
func (h *Hub) unwatch(id uuid.UUID, w *watching) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h.mu.Lock()
	inUse := len(w.subs) > 0 || h.closed
	h.mu.Unlock()
	if inUse {
		return
	}
	if w.registered {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := New(h.pool).Unwatch(ctx, UnwatchParams{ID: id, Listener: h.pid.Load()})
		cancel()
		if err != nil { // the row only costs notifications; a reconnect removes it
			h.log.Warn("unwatch", "err", err)
		}
		w.registered = false
	}
	h.mu.Lock()
	if len(w.subs) == 0 && h.watches[id] == w {
		delete(h.watches, id)
	}
	h.mu.Unlock()
}

// rewatch adds, through the listener's new connection, the rows of every
// watched id for it (one transaction each: a writer waits on at most one).
func (h *Hub) rewatch(ctx context.Context, conn *pgx.Conn) error {
	h.mu.Lock()
	ws := make(map[uuid.UUID]*watching, len(h.watches))
	for id, w := range h.watches {
		ws[id] = w
	}
	h.mu.Unlock()
	for id, w := range ws {
		w.mu.Lock()
		var err error
		if w.registered {
			err = New(conn).Watch(ctx, WatchParams{ID: id, Listener: h.pid.Load()})
		}
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// Close removes the subscription; the hub stops watching its id a while
// after the last one closed.
func (s *Subscription) Close() {
	h := s.hub
	if h == nil {
		return
	}
	h.mu.Lock()
	w := h.watches[s.id]
	if w != nil {
		if _, ok := w.subs[s]; ok {
			delete(w.subs, s)
			waiters.Add(-1)
			if len(w.subs) == 0 {
				time.AfterFunc(h.linger, func() { h.unwatch(s.id, w) })
			}
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
	if w := h.watches[id]; w != nil {
		for s := range w.subs {
			s.wake()
		}
	}
}

func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.watches {
		for s := range w.subs {
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
// the hub watches its ids again, and since anything may have changed
// meanwhile, every waiter looks again. Should watching fail, the
// connection is closed: the listener connects and tries again.
func (hh hubHandler) HandleBacklog(ctx context.Context, _ string, conn *pgx.Conn) error {
	err := hh.h.rewatch(ctx, conn)
	hh.h.wakeAll()
	if err != nil {
		_ = conn.Close(ctx)
		return err
	}
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
	sub, err := s.hub.Subscribe(ctx, instanceID)
	if err != nil {
		return err
	}
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
