package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
)

// Claims are the claims of a handoff token.
type Claims struct {
	Scope Scope `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// Mint signs a token for a key row. expiresAt nil: no exp claim.
func (k *Keys) Mint(userID, keyID uuid.UUID, scope Scope, issuedAt time.Time, expiresAt *time.Time) (string, error) {
	if k.Private == nil {
		return "", errors.New("no private key configured (JWT_PRIVATE_KEY)")
	}
	c := Claims{Scope: scope, RegisteredClaims: jwt.RegisteredClaims{
		Subject: userID.String(), ID: keyID.String(), IssuedAt: jwt.NewNumericDate(issuedAt),
	}}
	if expiresAt != nil {
		c.ExpiresAt = jwt.NewNumericDate(*expiresAt)
	}
	return jwt.NewWithClaims(k.signingMethod(), c).SignedString(k.Private)
}

// ErrNoToken: the request carries no bearer token.
var ErrNoToken = errors.New("Not authenticated")

// TokenError is a token that was presented and refused.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "Invalid token: " + e.Reason }

func invalid(format string, args ...any) error {
	return &TokenError{Reason: fmt.Sprintf(format, args...)}
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", ErrNoToken
	}
	return strings.TrimSpace(tok), nil
}

// VerifierOptions tune a Verifier.
type VerifierOptions struct {
	// CacheTTL is how long a key's row is trusted before it is read again:
	// the longest a revocation takes to hold on another replica. Default 1s.
	CacheTTL time.Duration
	// AllowUntracked accepts tokens without a jti (as Omnara minted them) as
	// agent-scope tokens of an existing user. Off by default: such tokens
	// cannot be revoked.
	AllowUntracked bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Verifier checks tokens: signature and algorithm against the configured
// key, expiry, and the key's row (unknown, revoked, expired or another
// user's key is refused). Rows are cached for CacheTTL so a request costs no
// database read while revocation still holds on every replica within it.
type Verifier struct {
	keys   *Keys
	store  *db.Store
	opts   VerifierOptions
	parser *jwt.Parser
	leeway time.Duration

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry

	// parsed remembers tokens whose signature checked out, so a client's
	// next request skips the signature math (about a sixth of a send's CPU
	// with Ed25519). Expiry and the key row are still checked every time.
	pmu    sync.Mutex
	parsed map[string]Claims
}

type cacheKey struct{ user, key uuid.UUID }

type cacheEntry struct {
	fetched time.Time
	found   bool
	// key is the row of a tracked key (zero for an untracked token's user).
	key db.APIKey
}

const maxCacheEntries = 100_000

// tokenLeeway is the clock skew allowed on exp and nbf.
const tokenLeeway = 5 * time.Second

// NewVerifier returns a Verifier for keys, reading key rows from store.
func NewVerifier(keys *Keys, store *db.Store, opts VerifierOptions) *Verifier {
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{
		keys: keys, store: store, opts: opts,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{keys.Alg}), jwt.WithTimeFunc(opts.Now),
			jwt.WithLeeway(tokenLeeway)),
		leeway: tokenLeeway,
		cache:  map[cacheKey]cacheEntry{}, parsed: map[string]Claims{},
	}
}

// maxParsedTokens bounds the parsed-token cache; it is emptied when full.
const maxParsedTokens = 50_000

// parse checks a token's signature and claims, from the cache when the same
// token passed before.
func (v *Verifier) parse(raw string) (Claims, error) {
	v.pmu.Lock()
	c, ok := v.parsed[raw]
	v.pmu.Unlock()
	if ok {
		now := v.opts.Now()
		switch {
		case c.ExpiresAt != nil && !now.Before(c.ExpiresAt.Add(v.leeway)):
			return Claims{}, jwt.ErrTokenExpired
		case c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time):
			return Claims{}, jwt.ErrTokenNotValidYet
		}
		return c, nil
	}
	_, err := v.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return v.keys.Public, nil })
	if err != nil {
		return Claims{}, err
	}
	v.pmu.Lock()
	if len(v.parsed) >= maxParsedTokens {
		clear(v.parsed)
	}
	v.parsed[raw] = c
	v.pmu.Unlock()
	return c, nil
}

// Verify returns the principal of a raw token, or a *TokenError.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	c, err := v.parse(raw)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Principal{}, invalid("token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return Principal{}, invalid("token is not valid yet")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Principal{}, invalid("token is malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return Principal{}, invalid("signature or algorithm is not accepted")
	case err != nil:
		return Principal{}, invalid("%v", trimJWTError(err))
	}
	userID, err := uuid.Parse(c.Subject)
	if err != nil {
		return Principal{}, invalid("token has no valid user (sub)")
	}
	if c.ID == "" {
		return v.untracked(ctx, userID)
	}
	keyID, err := uuid.Parse(c.ID)
	if err != nil {
		return Principal{}, invalid("token has no valid key id (jti)")
	}
	e, err := v.lookup(ctx, userID, keyID)
	if err != nil {
		return Principal{}, err
	}
	if !e.found {
		return Principal{}, invalid("unknown key")
	}
	switch e.key.State(v.opts.Now()) {
	case db.KeyRevoked:
		return Principal{}, invalid("key has been revoked")
	case db.KeyExpired:
		return Principal{}, invalid("token has expired")
	}
	return Principal{UserID: userID, KeyID: keyID, Scope: Scope(e.key.Scope)}, nil
}

func (v *Verifier) untracked(ctx context.Context, userID uuid.UUID) (Principal, error) {
	if !v.opts.AllowUntracked {
		return Principal{}, invalid("token has no key id (jti)")
	}
	e, err := v.lookup(ctx, userID, uuid.Nil)
	if err != nil {
		return Principal{}, err
	}
	if !e.found {
		return Principal{}, invalid("unknown user")
	}
	return Principal{UserID: userID, Scope: ScopeAgent}, nil
}

// lookup returns the cached row of a key (keyID uuid.Nil: whether the user
// exists), reading it again when older than the TTL.
func (v *Verifier) lookup(ctx context.Context, userID, keyID uuid.UUID) (cacheEntry, error) {
	k := cacheKey{userID, keyID}
	now := v.opts.Now()
	v.mu.Lock()
	e, ok := v.cache[k]
	v.mu.Unlock()
	if ok && now.Sub(e.fetched) < v.opts.CacheTTL {
		return e, nil
	}
	e = cacheEntry{fetched: now}
	if keyID == uuid.Nil {
		_, err := v.store.GetUser(ctx, userID)
		if err != nil && db.ErrorCode(err) != db.ENotFound {
			return e, err
		}
		e.found = err == nil
	} else {
		row, err := v.store.GetAPIKey(ctx, userID, keyID)
		if err != nil && db.ErrorCode(err) != db.ENotFound {
			return e, err
		}
		e.found, e.key = err == nil, row
	}
	v.mu.Lock()
	if len(v.cache) >= maxCacheEntries {
		clear(v.cache)
	}
	v.cache[k] = e
	v.mu.Unlock()
	return e, nil
}

// Forget drops a key from this replica's cache, so its revocation holds
// here at once.
func (v *Verifier) Forget(userID, keyID uuid.UUID) {
	v.mu.Lock()
	delete(v.cache, cacheKey{userID, keyID})
	v.mu.Unlock()
}

// trimJWTError keeps jwt's reason without its "token is unverifiable:"
// style prefixes stacked up.
func trimJWTError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// ErrNoLongerValid is the cause of a WhileValid context ended because its
// principal's key was revoked, expired or deleted.
var ErrNoLongerValid = errors.New("the key was revoked or has expired")

// check reports whether p's key is still good (its row through the
// cache, as Verify reads it): nil, ErrNoLongerValid, or a database error.
func (v *Verifier) check(ctx context.Context, p Principal) error {
	e, err := v.lookup(ctx, p.UserID, p.KeyID)
	if err != nil {
		return err
	}
	if !e.found || (p.KeyID != uuid.Nil && e.key.State(v.opts.Now()) != db.KeyActive) {
		return ErrNoLongerValid
	}
	return nil
}

// WhileValid returns a context of ctx that ends, with cause
// ErrNoLongerValid, once p's key is revoked, expires or is deleted: it is
// checked every CacheTTL whatever the traffic, so a long-lived request (an
// event stream, an MCP stream or call) stops within about that of a
// revocation. A database error is not taken for a revocation. Call cancel
// when done.
func (v *Verifier) WhileValid(ctx context.Context, p Principal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	// A timer rather than a goroutine: most requests end before the first
	// check is due, and then cost a timer, not a goroutine and a ticker.
	var mu sync.Mutex
	var t *time.Timer
	check := func() {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(v.check(ctx, p), ErrNoLongerValid) {
			cancel(ErrNoLongerValid)
			return
		}
		mu.Lock()
		t.Reset(v.opts.CacheTTL)
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(v.opts.CacheTTL, check)
	mu.Unlock()
	return ctx, func() {
		mu.Lock()
		t.Stop()
		mu.Unlock()
		cancel(context.Canceled)
	}
}
