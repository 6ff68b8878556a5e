package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// API keys (user scope): create (the token is shown once), list, revoke.

// parseCreateKey only decodes: the rules of a new key (name, scope, who may
// mint it, lifetime) are auth.IssueToken's.
func parseCreateKey(r *http.Request, w http.ResponseWriter, p auth.Principal) (auth.KeyRequest, error) {
	var req struct {
		Name          *string `json:"name"`
		Scope         *string `json:"scope"`
		ExpiresInDays *int    `json:"expires_in_days"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return auth.KeyRequest{}, err
	}
	name, err := required(req.Name, "name")
	if err != nil {
		return auth.KeyRequest{}, err
	}
	return auth.KeyRequest{Issuer: p, Name: name, Scope: auth.Scope(valueOr(req.Scope, string(auth.ScopeAgent))),
		ExpiresInDays: req.ExpiresInDays}, nil
}

type issuedKey struct {
	token string
	row   db.APIKey
}

// createKey issues a key: a rule broken is a 422, a scope the issuer may
// not mint a 403.
func (s *Server) createKey(ctx context.Context, k auth.KeyRequest) (issuedKey, error) {
	tok, row, err := auth.IssueToken(ctx, s.store, s.keys, k)
	if errors.Is(err, auth.ErrNoPrivateKey) {
		return issuedKey{}, &requestError{status: http.StatusServiceUnavailable, detail: err.Error()}
	}
	return issuedKey{tok, row}, unprocessable(err)
}

func renderCreatedKey(k issuedKey) (int, any) {
	return http.StatusCreated, map[string]any{
		"id": k.row.ID.String(), "name": k.row.Name, "scope": string(k.row.Scope), "api_key": k.token,
		"created_at": k.row.CreatedAt, "expires_at": k.row.ExpiresAt,
	}
}

func (s *Server) listKeys(ctx context.Context, userID uuid.UUID) ([]db.APIKey, error) {
	return s.store.ListAPIKeys(ctx, userID)
}

func renderKeys(keys []db.APIKey) (int, any) {
	now := time.Now()
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = map[string]any{
			"id": k.ID.String(), "name": k.Name, "scope": string(k.Scope), "created_at": k.CreatedAt,
			"expires_at": k.ExpiresAt, "revoked_at": k.RevokedAt, "last_used_at": k.LastUsedAt,
			"is_active": k.Active(now),
		}
	}
	return http.StatusOK, out
}

// DELETE /api/v1/auth/api-keys/{key_id}: revoked here at once, on every
// other replica within the verifier's cache TTL (a second).
func (s *Server) revokeKey(ctx context.Context, ref instanceRef) (db.APIKey, error) {
	k, err := s.store.RevokeAPIKey(ctx, ref.userID, ref.id)
	if err == nil {
		s.verifier.Forget(ref.userID, ref.id)
	}
	return k, err
}

func renderRevoked(db.APIKey) (int, any) {
	return http.StatusOK, map[string]string{"message": "API key revoked successfully"}
}
