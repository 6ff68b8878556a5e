package db

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// MaxRecentMessages bounds RecentMessages.
const MaxRecentMessages = 1000

// RecentMessages returns the last limit messages of the user's instance,
// oldest first: the end of a conversation, as the web page shows it. One
// indexed query reads them backwards from the newest; only when it finds
// nothing is the instance looked up, to tell an empty conversation from an
// unknown instance or another user's (ENotFound).
func (s *Store) RecentMessages(ctx context.Context, userID, instanceID uuid.UUID, limit int) ([]Message, error) {
	if limit < 1 || limit > MaxRecentMessages {
		return nil, Errorf(EInvalid, "limit must be from 1 to %d", MaxRecentMessages)
	}
	msgs, err := withTx(ctx, s, func(q *Queries) ([]Message, error) {
		msgs, err := q.ListRecentMessages(ctx, ListRecentMessagesParams{
			AgentInstanceID: instanceID, UserID: userID, Lim: int32(limit),
		})
		if err != nil {
			return nil, fmt.Errorf("recent messages: %w", err)
		}
		if len(msgs) == 0 {
			if _, err := q.GetInstance(ctx, GetInstanceParams{ID: instanceID, UserID: userID}); isNoRows(err) {
				return nil, Errorf(ENotFound, "Agent instance not found")
			} else if err != nil {
				return nil, fmt.Errorf("get instance: %w", err)
			}
		}
		return msgs, nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(msgs)
	return msgs, nil
}
