package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
)

// Limits of a new key.
const (
	// MaxKeyNameLen bounds a key's name (bytes, after trimming).
	MaxKeyNameLen = 255
	// MaxKeyDays bounds a key's lifetime (about a hundred years).
	MaxKeyDays = 36500
)

// ErrNoPrivateKey: this server only verifies tokens; it cannot sign new ones.
var ErrNoPrivateKey = errors.New("this server has no JWT_PRIVATE_KEY, so it cannot issue tokens")

// KeyRequest asks for a new API key and its token.
type KeyRequest struct {
	// Issuer is who asks. The key is for Issuer.UserID, and Issuer.Scope
	// bounds what may be minted: a user token mints agent keys, an admin
	// token any scope, an agent key nothing.
	Issuer Principal
	// Operator marks the server's operator as the issuer (the CLI's token
	// issue, the first run): it may mint any scope for Issuer.UserID, and
	// Issuer.Scope is not consulted.
	Operator bool
	// Name is how the person recognises the key: 1 to MaxKeyNameLen bytes
	// after trimming spaces (it is stored trimmed).
	Name string
	// Scope of the new key: agent, user or admin.
	Scope Scope
	// ExpiresInDays is the key's lifetime, 1 to MaxKeyDays; nil: it never
	// expires.
	ExpiresInDays *int
	// Now is the clock the expiry counts from; zero: time.Now.
	Now time.Time
}

// OperatorRequest is the operator's request for a key of user that never
// expires (set ExpiresInDays for one that does).
func OperatorRequest(user uuid.UUID, name string, scope Scope) KeyRequest {
	return KeyRequest{Issuer: Principal{UserID: user}, Operator: true, Name: name, Scope: scope}
}

// IssueToken applies the rules of key issuance, records the key and
// returns its signed token (shown once; only the row is kept). Every way
// of making a key (REST, the web page, the operator's CLI) comes here.
//
// A request that breaks a rule is a *db.Error: EInvalid for a bad name,
// scope or lifetime, EForbidden for a scope the issuer may not mint;
// nothing is written then. A server without a private key answers
// ErrNoPrivateKey.
func IssueToken(ctx context.Context, store *db.Store, keys *Keys, req KeyRequest) (string, db.APIKey, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > MaxKeyNameLen {
		return "", db.APIKey{}, db.Errorf(db.EInvalid, "name must be 1 to %d characters", MaxKeyNameLen)
	}
	if !req.Scope.Valid() {
		return "", db.APIKey{}, db.Errorf(db.EInvalid, "scope must be agent, user or admin")
	}
	if !req.Operator {
		switch {
		case !req.Issuer.Allows(ScopeUser):
			return "", db.APIKey{}, db.Errorf(db.EForbidden, "only a user or admin token can create keys")
		case req.Scope != ScopeAgent && !req.Issuer.Allows(ScopeAdmin):
			return "", db.APIKey{}, db.Errorf(db.EForbidden, "only an admin token can create user or admin tokens")
		}
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var expiresAt *time.Time
	if d := req.ExpiresInDays; d != nil {
		if *d < 1 || *d > MaxKeyDays {
			return "", db.APIKey{}, db.Errorf(db.EInvalid, "expires_in_days must be from 1 to %d", MaxKeyDays)
		}
		t := now.Add(time.Duration(*d) * 24 * time.Hour).Truncate(time.Second)
		expiresAt = &t
	}
	if keys == nil || keys.Private == nil {
		return "", db.APIKey{}, ErrNoPrivateKey
	}
	row, err := store.CreateAPIKey(ctx, req.Issuer.UserID, name, db.KeyScope(req.Scope), expiresAt)
	if err != nil {
		return "", db.APIKey{}, err
	}
	tok, err := keys.Mint(req.Issuer.UserID, row.ID, req.Scope, row.CreatedAt, expiresAt)
	return tok, row, err
}
