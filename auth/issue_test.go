package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// The rules of a new key, for every issuer: a broken one is refused with
// its code and writes nothing.
func TestIssueTokenRules(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{})
	as := func(scope auth.Scope) auth.Principal { return auth.Principal{UserID: f.user, Scope: scope} }
	days := func(n int) *int { return &n }
	cases := []struct {
		name string
		req  auth.KeyRequest
		want db.Code // "" : issued
	}{
		{"user mints agent", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "laptop", Scope: auth.ScopeAgent}, ""},
		{"user mints user", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "x", Scope: auth.ScopeUser}, db.EForbidden},
		{"user mints admin", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "x", Scope: auth.ScopeAdmin}, db.EForbidden},
		{"agent mints agent", auth.KeyRequest{Issuer: as(auth.ScopeAgent), Name: "x", Scope: auth.ScopeAgent}, db.EForbidden},
		{"nobody mints agent", auth.KeyRequest{Issuer: auth.Principal{UserID: f.user}, Name: "x", Scope: auth.ScopeAgent}, db.EForbidden},
		{"admin mints user", auth.KeyRequest{Issuer: as(auth.ScopeAdmin), Name: "x", Scope: auth.ScopeUser}, ""},
		{"admin mints admin", auth.KeyRequest{Issuer: as(auth.ScopeAdmin), Name: "x", Scope: auth.ScopeAdmin}, ""},
		{"operator mints admin", auth.OperatorRequest(f.user, "ops", auth.ScopeAdmin), ""},
		{"unknown scope", auth.KeyRequest{Issuer: as(auth.ScopeAdmin), Name: "x", Scope: "root"}, db.EInvalid},
		{"operator, unknown scope", auth.OperatorRequest(f.user, "x", "root"), db.EInvalid},
		{"empty name", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "", Scope: auth.ScopeAgent}, db.EInvalid},
		{"blank name", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: " \t ", Scope: auth.ScopeAgent}, db.EInvalid},
		{"name too long", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: strings.Repeat("n", 256), Scope: auth.ScopeAgent}, db.EInvalid},
		{"longest name", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: strings.Repeat("n", 255), Scope: auth.ScopeAgent}, ""},
		{"operator, empty name", auth.OperatorRequest(f.user, "", auth.ScopeAgent), db.EInvalid},
		{"zero days", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "x", Scope: auth.ScopeAgent, ExpiresInDays: days(0)}, db.EInvalid},
		{"negative days", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "x", Scope: auth.ScopeAgent, ExpiresInDays: days(-1)}, db.EInvalid},
		{"too many days", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "x", Scope: auth.ScopeAgent, ExpiresInDays: days(auth.MaxKeyDays + 1)}, db.EInvalid},
		{"most days", auth.KeyRequest{Issuer: as(auth.ScopeUser), Name: "x", Scope: auth.ScopeAgent, ExpiresInDays: days(auth.MaxKeyDays)}, ""},
		{"operator, one day", auth.KeyRequest{Issuer: auth.Principal{UserID: f.user}, Operator: true, Name: "x", Scope: auth.ScopeUser, ExpiresInDays: days(1)}, ""},
	}
	for _, c := range cases {
		before := f.keyCount()
		tok, row, err := auth.IssueToken(f.ctx, f.store, f.keys, c.req)
		if c.want != "" {
			if db.ErrorCode(err) != c.want || tok != "" {
				t.Errorf("%s: token %q, err %v (%s), want %s", c.name, tok, err, db.ErrorCode(err), c.want)
			}
			if n := f.keyCount(); n != before {
				t.Errorf("%s: refused, but %d keys were written", c.name, n-before)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		p, err := f.v.Verify(f.ctx, tok)
		if err != nil || p.KeyID != row.ID || p.Scope != c.req.Scope || p.UserID != f.user {
			t.Errorf("%s: the token verifies as %+v (%v)", c.name, p, err)
		}
	}
}

// A key's name is stored trimmed, its expiry counted from the request's
// clock in whole days; a verify-only server cannot issue.
func TestIssueTokenStoresTheKey(t *testing.T) {
	f := newFixture(t, "eddsa", auth.VerifierOptions{})
	from := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	thirty := 30
	req := auth.KeyRequest{Issuer: auth.Principal{UserID: f.user, Scope: auth.ScopeUser}, Name: "  laptop ",
		Scope: auth.ScopeAgent, ExpiresInDays: &thirty, Now: from}
	_, row, err := auth.IssueToken(f.ctx, f.store, f.keys, req)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2030, 2, 1, 3, 4, 5, 0, time.UTC)
	if row.Name != "laptop" || row.ExpiresAt == nil || !row.ExpiresAt.Equal(want) {
		t.Fatalf("row %q expiring %v, want \"laptop\" expiring %v", row.Name, row.ExpiresAt, want)
	}

	verifyOnly := &auth.Keys{Alg: f.keys.Alg, Public: f.keys.Public}
	before := f.keyCount()
	if _, _, err := auth.IssueToken(f.ctx, f.store, verifyOnly, req); !errors.Is(err, auth.ErrNoPrivateKey) {
		t.Fatalf("issued without a private key: %v", err)
	}
	if f.keyCount() != before {
		t.Fatal("a key row was written that no token can use")
	}
}

func (f *fixture) keyCount() int {
	f.t.Helper()
	keys, err := f.store.ListAPIKeys(f.ctx, f.user)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(keys)
}
