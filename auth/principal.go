// Package auth verifies and mints handoff's bearer tokens and carries the
// authenticated Principal through a request's context.
//
// A token is a JWT signed with the server's key: sub is the user, jti the
// api_keys row, scope one of agent, user, admin. The algorithm is fixed by
// the configured key (EdDSA for Ed25519 keys, RS256 for RSA keys), never by
// the token's header.
package auth

import (
	"context"

	"github.com/google/uuid"
)

// Scope is what a key may do. Scopes are ordered: a user token can do all an
// agent key can, and admin all a user token can.
type Scope string

const (
	// ScopeAgent keys act as agents: send messages, read their answers.
	ScopeAgent Scope = "agent"
	// ScopeUser tokens read everything of their user and answer.
	ScopeUser Scope = "user"
	// ScopeAdmin tokens also mint keys.
	ScopeAdmin Scope = "admin"
)

var scopeRank = map[Scope]int{ScopeAgent: 1, ScopeUser: 2, ScopeAdmin: 3}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return scopeRank[s] > 0 }

// Principal is who a request acts as.
type Principal struct {
	UserID uuid.UUID
	// KeyID is the token's jti (uuid.Nil for an untracked legacy token).
	KeyID uuid.UUID
	Scope Scope
}

// Allows reports whether the principal's scope covers required.
func (p Principal) Allows(required Scope) bool {
	return scopeRank[p.Scope] >= scopeRank[required] && scopeRank[required] > 0
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of an authenticated request.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
