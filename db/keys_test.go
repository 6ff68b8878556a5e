package db_test

import (
	"testing"
	"time"

	"github.com/handoffhq/handoff/db"
)

// A key is active until revoked or until its expiry (from that instant on).
func TestAPIKeyState(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Nanosecond), now.Add(time.Nanosecond)
	cases := []struct {
		name             string
		expires, revoked *time.Time
		want             db.KeyState
	}{
		{"never expires", nil, nil, db.KeyActive},
		{"expires later", &after, nil, db.KeyActive},
		{"expires now", &now, nil, db.KeyExpired},
		{"expired", &before, nil, db.KeyExpired},
		{"revoked", nil, &before, db.KeyRevoked},
		{"revoked and expired", &before, &before, db.KeyRevoked},
		{"revoked, expires later", &after, &before, db.KeyRevoked},
	}
	for _, c := range cases {
		k := db.APIKey{ExpiresAt: c.expires, RevokedAt: c.revoked}
		if got := k.State(now); got != c.want {
			t.Errorf("%s: state %d, want %d", c.name, got, c.want)
		}
		if got := k.Active(now); got != (c.want == db.KeyActive) {
			t.Errorf("%s: active %v", c.name, got)
		}
	}
}
