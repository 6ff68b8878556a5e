package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CreateUser adds a user (a tenant).
func (s *Store) CreateUser(ctx context.Context, email string, displayName *string) (User, error) {
	email = strings.TrimSpace(email)
	if email == "" || !strings.Contains(email, "@") {
		return User{}, Errorf(EInvalid, "email must be an address")
	}
	return withTx(ctx, s, func(q *Queries) (User, error) {
		u, err := q.CreateUser(ctx, CreateUserParams{Email: email, DisplayName: displayName})
		if pgCode(err) == sqlstateUnique {
			return User{}, Errorf(EConflict, "a user with email %s exists already", email)
		}
		return u, err
	})
}

// GetUser returns a user.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (User, error) {
	u, err := New(s.pool).GetUser(ctx, id)
	if isNoRows(err) {
		return User{}, Errorf(ENotFound, "User not found")
	}
	return u, err
}

// CreateAPIKey records a key for the user; the caller signs the token whose
// jti is the returned row's id.
func (s *Store) CreateAPIKey(ctx context.Context, userID uuid.UUID, name string, scope KeyScope, expiresAt *time.Time) (APIKey, error) {
	switch scope {
	case KeyScopeAgent, KeyScopeUser, KeyScopeAdmin:
	default:
		return APIKey{}, Errorf(EInvalid, "scope must be agent, user or admin")
	}
	return withTx(ctx, s, func(q *Queries) (APIKey, error) {
		k, err := q.CreateAPIKey(ctx, CreateAPIKeyParams{UserID: userID, Name: name, Scope: scope, ExpiresAt: expiresAt})
		if pgCode(err) == sqlstateForeignKey {
			return APIKey{}, Errorf(ENotFound, "User not found")
		}
		return k, err
	})
}

// GetAPIKey returns the user's key with the given id (a token's jti).
func (s *Store) GetAPIKey(ctx context.Context, userID, keyID uuid.UUID) (APIKey, error) {
	k, err := New(s.pool).GetAPIKey(ctx, GetAPIKeyParams{ID: keyID, UserID: userID})
	if isNoRows(err) {
		return APIKey{}, Errorf(ENotFound, "API key not found")
	}
	return k, err
}

// ListAPIKeys returns the user's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, userID uuid.UUID) ([]APIKey, error) {
	return New(s.pool).ListAPIKeys(ctx, userID)
}

// RevokeAPIKey revokes one of the user's keys; revoking twice keeps the
// first time.
func (s *Store) RevokeAPIKey(ctx context.Context, userID, keyID uuid.UUID) (APIKey, error) {
	return withTx(ctx, s, func(q *Queries) (APIKey, error) {
		k, err := q.RevokeAPIKey(ctx, RevokeAPIKeyParams{ID: keyID, UserID: userID})
		if isNoRows(err) {
			return APIKey{}, Errorf(ENotFound, "API key not found")
		} else if err != nil {
			return APIKey{}, fmt.Errorf("revoke key: %w", err)
		}
		return k, nil
	})
}

// APIKeyOwner tells the operator whose key an id is. Only the operator's
// CLI uses it; every request path knows its user already.
func (s *Store) APIKeyOwner(ctx context.Context, keyID uuid.UUID) (uuid.UUID, error) {
	owner, err := New(s.pool).GetAPIKeyOwner(ctx, keyID)
	if isNoRows(err) {
		return uuid.Nil, Errorf(ENotFound, "API key not found")
	}
	return owner, err
}

// KeyState is whether a key's tokens are accepted, and if not why.
type KeyState int

const (
	// KeyActive: the key's tokens are accepted.
	KeyActive KeyState = iota
	// KeyRevoked: revoked (whatever its expiry).
	KeyRevoked
	// KeyExpired: not revoked, but its expiry has passed.
	KeyExpired
)

// State is the key's state at now: revoked, expired from its expires_at
// on, or active. The one definition of a usable key, for the verifier and
// for the key lists alike.
func (k APIKey) State(now time.Time) KeyState {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}

// Active reports whether the key's tokens are accepted at now.
func (k APIKey) Active(now time.Time) bool { return k.State(now) == KeyActive }
