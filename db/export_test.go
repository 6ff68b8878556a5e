package db

import (
	"context"
	"time"
)

// Test hooks for package db_test.

// PipeTx is the transaction every Store operation runs on.
type PipeTx = pipeTx

// BeginPipe starts a pipeTx; nothing is sent until its first statement.
func (s *Store) BeginPipe(ctx context.Context) (*PipeTx, error) { return s.begin(ctx) }

// CommitWithNext sends COMMIT with the next statement.
func (t *pipeTx) CommitWithNext() { t.commitNext = true }

// Close rolls back what is still open and releases the connection.
func (t *pipeTx) Close(ctx context.Context) { t.close(ctx) }

// Done reports whether the transaction has ended.
func (t *pipeTx) Done() bool { return t.done }

// SetLinger sets how long the hub keeps watching an id nobody waits on.
func (h *Hub) SetLinger(d time.Duration) { h.linger = d }

// MigrationLock is the advisory lock key migrations run under.
const MigrationLock = migrationLock
