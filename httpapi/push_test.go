package httpapi_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/internal/testserver"
)

// newPushAPI is newAPI whose store lets push endpoints be on loopback
// (as the operator's HANDOFF_WEBHOOK_ALLOW_PRIVATE does).
func newPushAPI(t *testing.T) *api {
	t.Parallel()
	return apiWith(t, testserver.Options{StoreOptions: []db.Option{db.WithWebhookPolicy(true)}})
}

func deviceKeys(t *testing.T) (p256dh, authSecret string) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(k.PublicKey().Bytes()), enc(secret)
}

func TestPushSubscriptionsAPI(t *testing.T) {
	a := newPushAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	key := a.call("GET", "/api/v1/push/vapid-public-key", person, "").json(t)["public_key"].(string)
	if raw, err := base64.RawURLEncoding.DecodeString(key); err != nil || len(raw) != 65 || raw[0] != 4 {
		t.Fatalf("VAPID public key %q", key)
	}
	// The same key every time (it is kept).
	if again := a.call("GET", "/api/v1/push/vapid-public-key", person, "").json(t)["public_key"]; again != key {
		t.Fatalf("a new key: %v", again)
	}
	p256dh, secret := deviceKeys(t)
	body := `{"endpoint":"http://127.0.0.1:9/push/abc","expirationTime":null,"keys":{"p256dh":"` + p256dh + `","auth":"` + secret + `"},"name":"phone"}`
	r := a.call("POST", "/api/v1/push/subscriptions", person, body)
	if r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	sub := r.json(t)
	wantKeys(t, "subscription", sub, "id", "endpoint", "name", "created_at")
	// Subscribing again (renewed keys) keeps one device.
	if r := a.call("POST", "/api/v1/push/subscriptions", person, body); r.status != 201 || r.json(t)["id"] != sub["id"] {
		t.Fatalf("again: %d %s", r.status, r.body)
	}
	if l := a.call("GET", "/api/v1/push/subscriptions", person, ""); l.status != 200 || strings.Count(string(l.body), `"id"`) != 1 {
		t.Fatalf("list: %d %s", l.status, l.body)
	}
	before := a.count("push_subscriptions")
	for _, tc := range []struct{ body, detail string }{
		{`{"endpoint":"http://127.0.0.1:9/p","keys":{"p256dh":"AAAA","auth":"` + secret + `"}}`, "keys.p256dh must be a P-256 public key"},
		{`{"endpoint":"http://127.0.0.1:9/p"}`, "keys is required"},
		{`{"keys":{"p256dh":"` + p256dh + `","auth":"` + secret + `"}}`, "endpoint is required"},
		{`{"endpoint":"http://127.0.0.1:9/p","keys":{"p256dh":"` + p256dh + `","auth":"` + secret + `"},"extra":1}`, "unknown field"},
	} {
		if r := a.call("POST", "/api/v1/push/subscriptions", person, tc.body); r.status/100 != 4 ||
			r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(r.body), tc.detail) {
			t.Errorf("%s: %d %s", tc.body, r.status, r.body)
		}
	}
	if a.count("push_subscriptions") != before {
		t.Fatal("bad subscriptions were stored")
	}
	// Devices are the person's: an agent key cannot add one.
	if r := a.call("POST", "/api/v1/push/subscriptions", a.token, body); r.status != 403 {
		t.Fatalf("agent key: %d", r.status)
	}
	if r := a.call("DELETE", "/api/v1/push/subscriptions/"+sub["id"].(string), person, ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := a.call("DELETE", "/api/v1/push/subscriptions/"+sub["id"].(string), person, ""); r.status != 404 {
		t.Fatalf("delete again: %d", r.status)
	}
}

// The page's "Notify this device" posts the browser's subscription with
// its form token; the installable app's files are served.
func TestPushDeviceFromThePage(t *testing.T) {
	a := newPushAPI(t)
	cookie := a.signIn()
	p256dh, secret := deviceKeys(t)
	fields := url.Values{"endpoint": {"http://127.0.0.1:9/push/page"}, "p256dh": {p256dh}, "auth": {secret}, "name": {"Chrome"}}
	if r := a.form("/devices", cookie.Value, fields); r.StatusCode != 403 {
		t.Fatalf("without the form token: %d", r.StatusCode)
	}
	// The form token is on every signed-in page.
	_, page := a.page(cookie, "/")
	fields.Set("csrf", between(page, `name="csrf" value="`, `"`))
	if r := a.form("/devices", cookie.Value, fields); r.StatusCode != 201 {
		t.Fatalf("subscribe from the page: %d", r.StatusCode)
	}
	if n := a.count("push_subscriptions"); n != 1 {
		t.Fatalf("%d devices", n)
	}
	for path, ctype := range map[string]string{"/sw.js": "text/javascript; charset=utf-8", "/manifest.webmanifest": "application/manifest+json",
		"/static/icon-192.png": "image/png"} {
		if r := a.call("GET", path, "", ""); r.status != 200 || r.header.Get("Content-Type") != ctype {
			t.Errorf("%s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
	}
	if m := a.call("GET", "/manifest.webmanifest", "", "").json(t); m["start_url"] != "/" || m["display"] != "standalone" {
		t.Errorf("manifest %v", m)
	}
}

// Devices and webhooks are managed on the Notifications page.
func TestNotificationsPage(t *testing.T) {
	a := newPushAPI(t)
	cookie := a.signIn()
	_, page := a.page(cookie, "/notifications")
	csrf := between(page, `name="csrf" value="`, `"`)
	if !strings.Contains(page, "No devices yet.") || !strings.Contains(page, `value="permission.requested"`) {
		t.Fatalf("empty page: %s", between(page, "<main>", "</main>"))
	}
	// A bad URL is said on the page, with what was typed kept.
	r, page := a.formBody("/notifications/webhooks", cookie.Value, url.Values{"csrf": {csrf}, "url": {"ftp://nope"},
		"event_types": {"question.asked"}})
	if r.StatusCode != 422 || !strings.Contains(page, `value="ftp://nope"`) || !strings.Contains(page, `role="alert"`) {
		t.Fatalf("bad webhook: %d %s", r.StatusCode, between(page, "<main>", "</main>"))
	}
	r, page = a.formBody("/notifications/webhooks", cookie.Value, url.Values{"csrf": {csrf}, "url": {"http://127.0.0.1:9/hook"},
		"event_types": {"question.asked", "permission.requested"}, "format": {"slack"}})
	if r.StatusCode != 201 || !strings.Contains(page, "whsec_") || !strings.Contains(page, "question.asked, permission.requested") {
		t.Fatalf("add webhook: %d %s", r.StatusCode, between(page, "<main>", "</main>"))
	}
	hook := between(page, `action="/notifications/webhooks/`, `/test"`)
	p256dh, secret := deviceKeys(t)
	if r := a.form("/devices", cookie.Value, url.Values{"csrf": {csrf}, "endpoint": {"http://127.0.0.1:9/push/1"},
		"p256dh": {p256dh}, "auth": {secret}, "name": {"Pixel"}}); r.StatusCode != 201 {
		t.Fatalf("add device: %d", r.StatusCode)
	}
	_, page = a.page(cookie, "/notifications")
	device := between(page, `action="/notifications/devices/`, `/test"`)
	if !strings.Contains(page, "<strong>Pixel</strong>") || device == "" {
		t.Fatalf("device not listed: %s", between(page, "<main>", "</main>"))
	}
	// This server runs no job queue: a test says so rather than pretend.
	if r, page := a.formBody("/notifications/devices/"+device+"/test", cookie.Value, url.Values{"csrf": {csrf}}); r.StatusCode != 503 ||
		!strings.Contains(page, "not sent by this server") {
		t.Fatalf("test device: %d", r.StatusCode)
	}
	for _, path := range []string{"/notifications/devices/" + device + "/remove", "/notifications/webhooks/" + hook + "/remove"} {
		if r := a.form(path, cookie.Value, url.Values{"csrf": {csrf}}); r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if r := a.form(path, cookie.Value, url.Values{"csrf": {csrf}}); r.StatusCode != 404 {
			t.Fatalf("%s again: %d", path, r.StatusCode)
		}
	}
	if a.count("push_subscriptions")+a.count("webhooks") != 0 {
		t.Fatal("not removed")
	}
	if r := a.form("/notifications/webhooks", cookie.Value, url.Values{"url": {"http://127.0.0.1:9/x"}}); r.StatusCode != 403 {
		t.Fatalf("without the form token: %d", r.StatusCode)
	}
}
