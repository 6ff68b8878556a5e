// Package netguard is where handoff may send requests on a user's behalf
// (webhook deliveries, pushes): http or https URLs without credentials, and never
// this machine, a private network or cloud metadata unless the operator
// allows private targets. CheckURL applies the policy when a target is
// stored; Control applies it to every address actually dialled, so a name
// that later resolves somewhere private is refused too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrPrivateTarget: a target that is, or resolves to, this machine, a
// private network or cloud metadata.
var ErrPrivateTarget = errors.New("webhook target is a loopback, private, link-local, metadata or reserved address")

// ErrBadURL: not an http or https URL with a host, or one with credentials.
var ErrBadURL = errors.New("url must be an http or https URL without credentials")

// nat64 are the IPv6 ranges that carry an IPv4 address in their last 32
// bits (NAT64, well-known and local-use): the IPv4 address is what they
// reach, so it decides.
var nat64 = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}

// Private reports whether ip is an address no request may reach unless
// private targets are allowed. The ranges are IANA's special-purpose
// registries as code.dny.dev/ssrf keeps them (regenerated from IANA's
// lists): for IPv4 every special-purpose block (this network, private,
// shared, loopback, link-local and so cloud metadata, documentation,
// benchmarking, multicast, reserved); for IPv6 everything outside global
// unicast (2000::/3: loopback, unspecified, unique-local, link- and
// site-local, multicast, IPv4-mapped and -compatible forms) and the
// special blocks inside it (6to4, Teredo, documentation, ...). A NAT64
// address is judged by the IPv4 address it carries.
func Private(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is4() {
		for _, p := range ssrf.IPv4DeniedPrefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, p := range nat64 {
		if p.Contains(ip) {
			b := ip.As16()
			return Private(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
	}
	if !ssrf.IPv6GlobalUnicast.Contains(ip) {
		return true
	}
	for _, p := range ssrf.IPv6DeniedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control that refuses private addresses: it sees
// the address actually dialled (after DNS), so a name that resolves to a
// private address is refused too. The error wraps ErrPrivateTarget.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || Private(ip) {
		return ErrPrivateTarget
	}
	return nil
}

// Dialer returns a dialer with the policy: Control unless allowPrivate.
func Dialer(timeout time.Duration, allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = Control
	}
	return d
}

// resolveTimeout bounds CheckURL's lookup of a name.
const resolveTimeout = 3 * time.Second

// CheckURL checks a target before it is stored: http(s), a host, no
// credentials, and, unless allowPrivate, no name or literal address that
// is private (a name is resolved now; deliveries check again at every
// dial). Its errors are meant for the client: ErrBadURL, ErrPrivateTarget,
// or a name that does not resolve.
func CheckURL(ctx context.Context, raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ErrBadURL
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return ErrPrivateTarget
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if Private(ip) {
			return ErrPrivateTarget
		}
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return fmt.Errorf("url host %q does not resolve", host)
	}
	for _, a := range addrs {
		if Private(a) {
			return ErrPrivateTarget
		}
	}
	return nil
}

// Client is an HTTP client for requests on a user's behalf (webhook
// deliveries, pushes): every address it dials passes the policy, it
// follows no redirect (a target could point it elsewhere), and no request
// takes longer than timeout.
func Client(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := Dialer(5*time.Second, allowPrivate)
	tr := &http.Transport{Proxy: nil, DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second,
		ResponseHeaderTimeout: timeout, MaxIdleConnsPerHost: 4, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Backoff is when attempt number attempt (from 1) is retried: base,
// doubling per attempt, at most an hour from now.
func Backoff(base time.Duration, attempt int) time.Time {
	d := base << min(max(attempt-1, 0), 20)
	return time.Now().Add(min(d, time.Hour))
}
