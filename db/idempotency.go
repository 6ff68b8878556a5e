package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 255

// idempotent runs fn once per (user, operation, key) inside the caller's
// transaction. The first call claims the key, runs fn and stores its result;
// a later call with the same key and the same request returns that stored
// result with replayed set, and writes nothing. The same key with a
// different request is a conflict. A concurrent retry waits on the first
// one's claim, so two racing retries still make one row. An empty key runs
// fn without any of this.
func idempotent[T any](ctx context.Context, q *Queries, userID uuid.UUID, operation, key string,
	request any, fn func() (T, error)) (res T, replayed bool, err error) {
	if key == "" {
		res, err = fn()
		return res, false, err
	}
	if len(key) > MaxIdempotencyKeyLen {
		return res, false, Errorf(EInvalid, "Idempotency-Key is longer than %d characters", MaxIdempotencyKeyLen)
	}
	reqJSON, err := json.Marshal(request)
	if err != nil {
		return res, false, fmt.Errorf("hash request: %w", err)
	}
	sum := sha256.Sum256(reqJSON)
	claimed, err := q.ClaimIdempotencyKey(ctx, ClaimIdempotencyKeyParams{
		UserID: userID, Operation: operation, Key: key, RequestHash: sum[:],
	})
	if err != nil {
		return res, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if claimed == 0 {
		row, err := q.GetIdempotencyKey(ctx, GetIdempotencyKeyParams{UserID: userID, Operation: operation, Key: key})
		if err != nil {
			return res, false, fmt.Errorf("read idempotency key: %w", err)
		}
		if !bytes.Equal(row.RequestHash, sum[:]) {
			return res, false, Errorf(EConflict, "Idempotency-Key %q was already used for a different request", key)
		}
		if err := json.Unmarshal(row.Response, &res); err != nil {
			return res, false, fmt.Errorf("decode stored response: %w", err)
		}
		return res, true, nil
	}
	res, err = fn()
	if err != nil {
		return res, false, err
	}
	stored, err := json.Marshal(res)
	if err != nil {
		return res, false, fmt.Errorf("encode response: %w", err)
	}
	err = q.SaveIdempotentResponse(ctx, SaveIdempotentResponseParams{
		Response: stored, UserID: userID, Operation: operation, Key: key,
	})
	return res, false, err
}

// withIdempotentTx runs fn in one transaction, once per idempotency key (see
// idempotent), and reports whether the result is a replay. With a key, lock
// runs first: the instance's row lock is then the transaction's first
// write, so its transaction id (which orders the live view's events)
// follows the order of the writes on that instance, as without a key.
func withIdempotentTx[T any](ctx context.Context, s *Store, userID uuid.UUID, operation, key string,
	request any, lock func(q *Queries) error, fn func(q *Queries) (T, error)) (res T, replayed bool, err error) {
	res, err = withTx(ctx, s, func(q *Queries) (T, error) {
		var r T
		if key != "" {
			if err := lock(q); err != nil {
				return r, err
			}
		}
		r, replayed, err = idempotent(ctx, q, userID, operation, key, request, func() (T, error) { return fn(q) })
		return r, err
	})
	return res, replayed, err
}
