package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func genKeys(t testing.TB, alg string) *auth.Keys {
	t.Helper()
	priv, pub, err := auth.GenerateKeyPEM(alg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := auth.LoadKeys(string(pub), string(priv))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadKeys(t *testing.T) {
	priv, pub, err := auth.GenerateKeyPEM("eddsa")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := auth.WriteKeyFiles(dir, "rs256"); err != nil {
		t.Fatal(err)
	}
	if err := auth.WriteKeyFiles(dir, "rs256"); err == nil {
		t.Fatal("WriteKeyFiles overwrote existing keys")
	}
	st, err := os.Stat(filepath.Join(dir, auth.PrivateKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file mode %v (%v), want 0600", st.Mode(), err)
	}
	otherPriv, _, _ := auth.GenerateKeyPEM("eddsa")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))

	cases := []struct {
		name, pub, priv, alg, err string
	}{
		{name: "eddsa text", pub: string(pub), priv: string(priv), alg: auth.AlgEdDSA},
		{name: "public only", pub: string(pub), alg: auth.AlgEdDSA},
		{name: "private only", priv: string(priv), alg: auth.AlgEdDSA},
		{name: "escaped newlines", pub: strings.ReplaceAll(string(pub), "\n", `\n`), alg: auth.AlgEdDSA},
		{name: "rsa files", pub: filepath.Join(dir, auth.PublicKeyFile), priv: filepath.Join(dir, auth.PrivateKeyFile), alg: auth.AlgRS256},
		{name: "none", err: "JWT_PUBLIC_KEY is not set"},
		{name: "mismatch", pub: string(pub), priv: string(otherPriv), err: "does not belong"},
		{name: "missing file", pub: filepath.Join(dir, "nope.pem"), err: "not PEM text, and not a readable file"},
		{name: "garbage PEM", pub: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", err: "JWT_PUBLIC_KEY"},
		{name: "ecdsa", pub: ecPEM, err: "unsupported public key type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := auth.LoadKeys(c.pub, c.priv)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Alg != c.alg || (c.priv != "") != (k.Private != nil) {
				t.Fatalf("alg %s, private %v", k.Alg, k.Private != nil)
			}
		})
	}
}

// fixture is a store with a user, a verifier with a settable clock and
// helpers to mint tokens.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *db.Store
	keys  *auth.Keys
	v     *auth.Verifier
	now   time.Time
	user  uuid.UUID
}

func newFixture(t *testing.T, alg string, opts auth.VerifierOptions) *fixture {
	t.Parallel()
	f := &fixture{t: t, ctx: context.Background(), store: dbtest.Store(t), keys: genKeys(t, alg), now: time.Now()}
	opts.Now = func() time.Time { return f.now }
	f.v = auth.NewVerifier(f.keys, f.store, opts)
	f.user = dbtest.User(t, f.store)
	return f
}

// issue mints, as the operator, a key of scope for user that never expires.
func (f *fixture) issue(user uuid.UUID, scope auth.Scope) (string, db.APIKey) {
	f.t.Helper()
	return f.issueReq(auth.OperatorRequest(user, "test", scope))
}

// issueExpired mints an agent key issued two days ago for one day.
func (f *fixture) issueExpired() (string, db.APIKey) {
	f.t.Helper()
	req, day := auth.OperatorRequest(f.user, "test", auth.ScopeAgent), 1
	req.ExpiresInDays, req.Now = &day, f.now.Add(-48*time.Hour)
	return f.issueReq(req)
}

func (f *fixture) issueReq(req auth.KeyRequest) (string, db.APIKey) {
	f.t.Helper()
	tok, row, err := auth.IssueToken(f.ctx, f.store, f.keys, req)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok, row
}

// sign signs arbitrary claims with the server's key.
func (f *fixture) sign(claims jwt.Claims) string {
	f.t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(f.keys.Private)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRefusesAttacks(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{})
	good, row := f.issue(f.user, auth.ScopeAgent)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])

	other := dbtest.User(t, f.store)
	_, otherRow := f.issue(other, auth.ScopeAdmin)
	revokedTok, revokedRow := f.issue(f.user, auth.ScopeUser)
	if _, err := f.store.RevokeAPIKey(f.ctx, f.user, revokedRow.ID); err != nil {
		t.Fatal(err)
	}
	expiredTok, _ := f.issueExpired()
	// A key whose row has expired, on a token that carries no exp.
	_, expRow := f.issueExpired()
	rowExpiredTok := f.sign(auth.Claims{Scope: auth.ScopeAgent, RegisteredClaims: jwt.RegisteredClaims{
		Subject: f.user.String(), ID: expRow.ID.String()}})

	pubDER, _ := x509.MarshalPKIXPublicKey(f.keys.Public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": f.user.String(), "jti": row.ID.String(), "scope": "admin"}).SignedString(pubPEM)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsTok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": f.user.String(), "jti": row.ID.String()}).SignedString(rsaKey)
	_, foreignKey, _ := ed25519.GenerateKey(rand.Reader)
	foreignTok, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": f.user.String(), "jti": row.ID.String()}).SignedString(foreignKey)
	tampered := parts[0] + "." + b64(strings.Replace(string(payload), `"agent"`, `"admin"`, 1)) + "." + parts[2]

	cases := []struct{ name, token, reason string }{
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", "signature or algorithm is not accepted"},
		{"alg none with signature", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], "signature or algorithm is not accepted"},
		{"HS256 keyed with the public key", hsTok, "signature or algorithm is not accepted"},
		{"RS256 at an EdDSA server", rsTok, "signature or algorithm is not accepted"},
		{"signed by another key", foreignTok, "signature or algorithm is not accepted"},
		{"tampered payload", tampered, "signature or algorithm is not accepted"},
		{"header alg switched", b64(`{"alg":"HS256","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], "signature or algorithm is not accepted"},
		{"expired", expiredTok, "token has expired"},
		{"key row expired", rowExpiredTok, "token has expired"},
		{"revoked", revokedTok, "key has been revoked"},
		{"unknown jti", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: f.user.String(), ID: uuid.NewString()}}), "unknown key"},
		{"another user's jti", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: f.user.String(), ID: otherRow.ID.String()}}), "unknown key"},
		{"jti with another sub", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: other.String(), ID: row.ID.String()}}), "unknown key"},
		{"no sub", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: row.ID.String()}}), "token has no valid user (sub)"},
		{"sub not a uuid", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "admin", ID: row.ID.String()}}), "token has no valid user (sub)"},
		{"jti not a uuid", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: f.user.String(), ID: "1"}}), "token has no valid key id (jti)"},
		{"no jti", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: f.user.String()}}), "token has no key id (jti)"},
		{"not yet valid", f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: f.user.String(), ID: row.ID.String(),
			NotBefore: jwt.NewNumericDate(f.now.Add(time.Hour))}}), "token is not valid yet"},
		{"empty", "", "token is malformed"},
		{"garbage", "not-a-token", "token is malformed"},
		{"three garbage parts", "a.b.c", "token is malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := f.v.Verify(f.ctx, c.token)
			var te *auth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("accepted or wrong error: principal %+v, err %v", p, err)
			}
			if te.Reason != c.reason {
				t.Fatalf("reason %q, want %q", te.Reason, c.reason)
			}
		})
	}

	p, err := f.v.Verify(f.ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if p != (auth.Principal{UserID: f.user, KeyID: row.ID, Scope: auth.ScopeAgent}) {
		t.Fatalf("principal %+v", p)
	}
}

// The key's row decides its scope, whatever the token claims.
func TestScopeComesFromTheKeyRow(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{})
	_, row := f.issue(f.user, auth.ScopeAgent)
	tok := f.sign(auth.Claims{Scope: auth.ScopeAdmin, RegisteredClaims: jwt.RegisteredClaims{Subject: f.user.String(), ID: row.ID.String()}})
	p, err := f.v.Verify(f.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scope != auth.ScopeAgent {
		t.Fatalf("scope %s, want the row's agent", p.Scope)
	}
	if p.Allows(auth.ScopeUser) || !p.Allows(auth.ScopeAgent) {
		t.Fatal("agent scope allows the wrong things")
	}
}

// A revoked key stops working once the cache entry is older than the TTL
// (one second by default) on any replica, and at once where Forget is
// called.
func TestRevocationWithinTTL(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{})
	tok, row := f.issue(f.user, auth.ScopeAgent)
	if _, err := f.v.Verify(f.ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Another replica: its own verifier with its own cache.
	replica := auth.NewVerifier(f.keys, f.store, auth.VerifierOptions{Now: func() time.Time { return f.now }})
	if _, err := replica.Verify(f.ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RevokeAPIKey(f.ctx, f.user, row.ID); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(999 * time.Millisecond)
	if _, err := replica.Verify(f.ctx, tok); err != nil {
		t.Fatalf("within the TTL the cached row is used: %v", err)
	}
	f.now = f.now.Add(time.Millisecond)
	if _, err := replica.Verify(f.ctx, tok); err == nil {
		t.Fatal("a revoked key still works a second after revocation")
	}
	f.v.Forget(f.user, row.ID)
	if _, err := f.v.Verify(f.ctx, tok); err == nil {
		t.Fatal("a revoked key still works after Forget")
	}
}

func TestUntrackedTokens(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{AllowUntracked: true})
	tok := f.sign(jwt.RegisteredClaims{Subject: f.user.String(), IssuedAt: jwt.NewNumericDate(f.now)})
	p, err := f.v.Verify(f.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p != (auth.Principal{UserID: f.user, Scope: auth.ScopeAgent}) {
		t.Fatalf("principal %+v", p)
	}
	stranger := f.sign(jwt.RegisteredClaims{Subject: uuid.NewString()})
	if _, err := f.v.Verify(f.ctx, stranger); err == nil || !strings.Contains(err.Error(), "unknown user") {
		t.Fatalf("token of an unknown user: %v", err)
	}
}

// RS256 servers (Omnara-minted keys), including Omnara's 512-bit keys.
func TestRS256(t *testing.T) {
	f := newFixture(t, "rs256", auth.VerifierOptions{AllowUntracked: true})
	tok, row := f.issue(f.user, auth.ScopeUser)
	if h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0]); !strings.Contains(string(h), `"RS256"`) {
		t.Fatalf("header %s", h)
	}
	p, err := f.v.Verify(f.ctx, tok)
	if err != nil || p.KeyID != row.ID || p.Scope != auth.ScopeUser {
		t.Fatalf("principal %+v, err %v", p, err)
	}
	edTok, _ := genKeys(t, "eddsa").Mint(f.user, row.ID, auth.ScopeUser, f.now, nil)
	if _, err := f.v.Verify(f.ctx, edTok); err == nil {
		t.Fatal("an EdDSA token passed an RS256 server")
	}

	// An Omnara key: 512-bit RSA, a token with only sub and iat.
	omnara, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&omnara.PublicKey)
	keys, err := auth.LoadKeys(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})), "")
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(keys, f.store, auth.VerifierOptions{AllowUntracked: true})
	omnaraTok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": f.user.String(), "iat": f.now.Unix()}).SignedString(omnara)
	if p, err := v.Verify(f.ctx, omnaraTok); err != nil || p.UserID != f.user {
		t.Fatalf("Omnara token: %+v, %v", p, err)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc ": "abc",
		"": "", "Basic abc": "", "Bearer": "", "Bearer ": "", "abc": "",
	} {
		r, _ := newRequest(header)
		got, err := auth.BearerToken(r)
		if got != want || (want == "") != errors.Is(err, auth.ErrNoToken) {
			t.Errorf("%q: got %q, %v; want %q", header, got, err, want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	keys := genKeys(f, "eddsa")
	v := auth.NewVerifier(keys, nil, auth.VerifierOptions{})
	f.Add("")
	f.Add("a.b.c")
	f.Add(b64(`{"alg":"none"}`) + "." + b64(`{"sub":"x"}`) + ".")
	f.Add(b64(`{"alg":"EdDSA"}`) + "." + b64(`{"sub":"`+uuid.NewString()+`","jti":"`+uuid.NewString()+`"}`) + ".AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		// Without the server's private key no input may pass the
		// signature check (which would reach the nil store and panic).
		if p, err := v.Verify(context.Background(), tok); err == nil {
			t.Fatalf("accepted %q as %+v", tok, p)
		}
	})
}

// A token that passed once is remembered, but still expires on time.
func TestRememberedTokenStillExpires(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{})
	exp := f.now.Add(time.Minute)
	_, row := f.issue(f.user, auth.ScopeAgent) // the row never expires: only the claim does
	tok := f.sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: f.user.String(), ID: row.ID.String(), ExpiresAt: jwt.NewNumericDate(exp)}})
	for i := 0; i < 2; i++ {
		if _, err := f.v.Verify(f.ctx, tok); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	f.now = exp.Add(10 * time.Second) // past exp and the leeway
	_, err := f.v.Verify(f.ctx, tok)
	var te *auth.TokenError
	if !errors.As(err, &te) || te.Reason != "token has expired" {
		t.Fatalf("remembered token after expiry: %v", err)
	}
}
