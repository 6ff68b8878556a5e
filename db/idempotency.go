package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 255

// An idempotent operation runs once per (user, operation, key): the first
// call claims the key inside its transaction, runs and stores its result
// with it; a later call with the same key and the same request gets that
// stored result back and writes nothing. The same key with a different
// request is a conflict. A concurrent retry waits on the first one's claim
// (its insert blocks on the uncommitted row), so racing retries still make
// one row. withInstance does all of this when instanceOp.key is set.

// keyClaim is a claimed key: stored is the earlier call's result when this
// call is a retry.
type keyClaim struct {
	stored []byte
}

// claimKey claims op's key for this transaction, or finds the stored
// result of the call that claimed it.
func claimKey(ctx context.Context, q *Queries, op instanceOp) (keyClaim, error) {
	reqJSON, err := json.Marshal(op.request)
	if err != nil {
		return keyClaim{}, fmt.Errorf("hash request: %w", err)
	}
	sum := sha256.Sum256(reqJSON)
	claimed, err := q.ClaimIdempotencyKey(ctx, ClaimIdempotencyKeyParams{
		UserID: op.userID, Operation: op.operation, Key: op.key, RequestHash: sum[:],
	})
	if err != nil {
		return keyClaim{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	if claimed == 1 {
		return keyClaim{}, nil
	}
	row, err := q.GetIdempotencyKey(ctx, GetIdempotencyKeyParams{UserID: op.userID, Operation: op.operation, Key: op.key})
	if err != nil {
		return keyClaim{}, fmt.Errorf("read idempotency key: %w", err)
	}
	if !bytes.Equal(row.RequestHash, sum[:]) {
		return keyClaim{}, Errorf(EConflict, "Idempotency-Key %q was already used for a different request", op.key)
	}
	return keyClaim{stored: row.Response}, nil
}

// replay decodes the stored result into res.
func (c keyClaim) replay(res any) error {
	if err := json.Unmarshal(c.stored, res); err != nil {
		return fmt.Errorf("decode stored response: %w", err)
	}
	return nil
}

// save stores the result under the claimed key: the transaction's last
// statement, so COMMIT rides with it.
func (c keyClaim) save(ctx context.Context, q *Queries, tx *pipeTx, op instanceOp, res any) error {
	stored, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	tx.commitNext = true
	if err := q.SaveIdempotentResponse(ctx, SaveIdempotentResponseParams{
		Response: stored, UserID: op.userID, Operation: op.operation, Key: op.key,
	}); err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}
