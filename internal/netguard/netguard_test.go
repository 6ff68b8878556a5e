package netguard_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/handoffhq/handoff/internal/netguard"
)

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	// Literal addresses and refused forms only: no lookups leave the test.
	for u, want := range map[string]error{
		"http://127.0.0.1:9/x":           netguard.ErrPrivateTarget,
		"http://10.1.2.3/":               netguard.ErrPrivateTarget,
		"http://169.254.169.254/latest":  netguard.ErrPrivateTarget,
		"http://[::1]/":                  netguard.ErrPrivateTarget,
		"http://localhost/":              netguard.ErrPrivateTarget,
		"http://api.LOCALHOST:8080/":     netguard.ErrPrivateTarget,
		"http://[64:ff9b::a9fe:a9fe]/":   netguard.ErrPrivateTarget, // NAT64 of 169.254.169.254
		"http://[2002:a00:1::]/":         netguard.ErrPrivateTarget, // 6to4 of 10.0.0.1
		"http://[::ffff:10.0.0.1]/":      netguard.ErrPrivateTarget,
		"http://[fe80::1%25eth0]/":       netguard.ErrPrivateTarget,
		"http://0.1.2.3/":                netguard.ErrPrivateTarget,
		"http://198.18.0.1/":             netguard.ErrPrivateTarget,
		"http://100.64.0.1/":             netguard.ErrPrivateTarget,
		"http://224.0.0.1/":              netguard.ErrPrivateTarget,
		"ftp://example.com":              netguard.ErrBadURL,
		"http://user:pw@example.com/":    netguard.ErrBadURL,
		"https:///nohost":                netguard.ErrBadURL,
		"not a url":                      netguard.ErrBadURL,
		"https://203.0.113.7/hook":       netguard.ErrPrivateTarget, // documentation
		"http://[2001:db8::1]:8080/":     netguard.ErrPrivateTarget, // documentation
		"http://[fec0::1]/":              netguard.ErrPrivateTarget, // site-local (deprecated, still routed inside some sites)
		"https://8.8.8.8/hook":           nil,
		"http://[2606:4700::1111]:8080/": nil,
	} {
		if err := netguard.CheckURL(ctx, u, false); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", u, err, want)
		}
	}
	// Allowed private targets: only the form is checked.
	for u, want := range map[string]error{
		"http://127.0.0.1:9/x":      nil,
		"http://localhost/":         nil,
		"http://user:pw@127.0.0.1/": netguard.ErrBadURL,
		"file:///etc/passwd":        netguard.ErrBadURL,
	} {
		if err := netguard.CheckURL(ctx, u, true); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("allowing private, %s: %v, want %v", u, err, want)
		}
	}
}

// Control sees the address dialled, after DNS.
func TestControl(t *testing.T) {
	for addr, refused := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:443": true, "10.0.0.5:8080": true, "169.254.169.254:80": true,
		"[64:ff9b::7f00:1]:80": true, "203.0.113.7:443": true, "[fec0::1]:80": true,
		"8.8.8.8:443": false, "[2606:4700::1111]:80": false, "[64:ff9b::808:808]:443": false,
	} {
		err := netguard.Control("tcp", addr, nil)
		if refused != errors.Is(err, netguard.ErrPrivateTarget) || (!refused && err != nil) {
			t.Errorf("%s: %v, refused want %v", addr, err, refused)
		}
	}
	if d := netguard.Dialer(0, true); d.Control != nil {
		t.Error("allowing private targets still controls the dial")
	}
	if d := netguard.Dialer(0, false); d.Control == nil {
		t.Error("the dialer does not check addresses")
	}
}

func TestPrivate(t *testing.T) {
	for s, want := range map[string]bool{
		"192.168.1.1": true, "172.16.0.1": true, "::": true, "ff02::1": true, "fc00::1": true,
		// IANA's special-purpose blocks beyond the standard library's tests.
		"fec0::1": true, "fec0:1::1": true, "100::1": true, "2001::1": true, "2001:2::1": true, "2002:808:808::": true,
		"3fff::1": true, "::1.2.3.4": true, "192.88.99.1": true, "192.0.0.8": true, "255.255.255.255": true,
		"198.51.100.9": true, "240.0.0.1": true,
		"8.8.8.8": false, "2606:4700::1111": false, "::ffff:8.8.8.8": false, "64:ff9b::808:808": false,
	} {
		if got := netguard.Private(netip.MustParseAddr(s)); got != want {
			t.Errorf("%s: private %v, want %v", s, got, want)
		}
	}
}
