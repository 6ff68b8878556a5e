package db

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultOpTimeout is how long a pool connection may wait for PostgreSQL
// on one read or write before the operation fails as EUnavailable.
const DefaultOpTimeout = 10 * time.Second

// PoolOption tunes ConfigurePool.
type PoolOption func(*poolOptions)

type poolOptions struct{ opTimeout time.Duration }

// OpTimeout sets the longest wait for PostgreSQL on one read or write of
// a pool connection (DefaultOpTimeout). No statement of the Store, River
// or the migrations legitimately waits that long for a byte; a database
// that is frozen or cut off does, and its operations then fail quickly
// as EUnavailable instead of hanging the request.
func OpTimeout(d time.Duration) PoolOption { return func(o *poolOptions) { o.opTimeout = d } }

// boundIO wraps a pool's dialer so every read and write of its
// connections has a deadline.
func boundIO(cfg *pgxpool.Config, d time.Duration) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: c, d: d}, nil
	}
}

// deadlineConn gives each Read and Write a deadline d from its start,
// unless a deadline set from outside (pgx interrupting an operation whose
// context ended) is earlier.
type deadlineConn struct {
	net.Conn
	d      time.Duration
	mu     sync.Mutex
	rd, wd time.Time
}

func earliest(set time.Time, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if !set.IsZero() && set.Before(t) {
		return set
	}
	return t
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	_ = c.Conn.SetReadDeadline(earliest(c.rd, c.d))
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	_ = c.Conn.SetWriteDeadline(earliest(c.wd, c.d))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd, c.wd = t, t
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	return c.Conn.SetWriteDeadline(t)
}

// unavailable reports whether err says PostgreSQL could not be reached or
// did not answer in time (as opposed to refusing the operation).
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &ce), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		pgconn.Timeout(err), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, net.ErrClosed):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	// The server is shutting down or restarting (admin_shutdown,
	// crash_shutdown, cannot_connect_now).
	switch pgCode(err) {
	case "57P01", "57P02", "57P03":
		return true
	}
	return false
}
