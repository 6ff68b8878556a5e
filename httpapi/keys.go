package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// API keys (user scope): create (the token is shown once), list, revoke.

// MaxKeyDays bounds expires_in_days.
const MaxKeyDays = 36500

type newKey struct {
	p       auth.Principal
	name    string
	scope   auth.Scope
	expires *time.Time
}

func parseCreateKey(r *http.Request, w http.ResponseWriter, p auth.Principal) (newKey, error) {
	var req struct {
		Name          *string `json:"name"`
		Scope         *string `json:"scope"`
		ExpiresInDays *int    `json:"expires_in_days"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return newKey{}, err
	}
	name, err := required(req.Name, "name")
	if err != nil {
		return newKey{}, err
	}
	if name = strings.TrimSpace(name); name == "" || len(name) > 255 {
		return newKey{}, badRequest(http.StatusUnprocessableEntity, "name must be 1 to 255 characters")
	}
	k := newKey{p: p, name: name, scope: auth.Scope(valueOr(req.Scope, string(auth.ScopeAgent)))}
	if !k.scope.Valid() {
		return k, badRequest(http.StatusUnprocessableEntity, "scope must be agent, user or admin")
	}
	if k.scope != auth.ScopeAgent && !p.Allows(auth.ScopeAdmin) {
		return k, &requestError{status: http.StatusForbidden, detail: "only an admin token can create user or admin tokens"}
	}
	if d := req.ExpiresInDays; d != nil {
		if *d < 1 || *d > MaxKeyDays {
			return k, badRequest(http.StatusUnprocessableEntity, "expires_in_days must be from 1 to %d", MaxKeyDays)
		}
		t := time.Now().Add(time.Duration(*d) * 24 * time.Hour).Truncate(time.Second)
		k.expires = &t
	}
	return k, nil
}

type issuedKey struct {
	token string
	row   db.APIKey
}

func (s *Server) createKey(ctx context.Context, k newKey) (issuedKey, error) {
	if s.keys == nil || s.keys.Private == nil {
		return issuedKey{}, &requestError{status: http.StatusServiceUnavailable,
			detail: "this server has no JWT_PRIVATE_KEY, so it cannot issue tokens"}
	}
	tok, row, err := auth.IssueToken(ctx, s.store, s.keys, k.p.UserID, k.name, k.scope, k.expires)
	return issuedKey{tok, row}, err
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
			"is_active": k.RevokedAt == nil && (k.ExpiresAt == nil || k.ExpiresAt.After(now)),
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
