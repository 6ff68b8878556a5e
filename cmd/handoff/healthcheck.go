package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a server on this machine whether it is ready (GET
// /readyz) and exits 0 only if it is: the container image's HEALTHCHECK,
// which has no shell or curl to do it.
func healthcheck(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	port, err := listenPort(getenv)
	if err != nil {
		return err
	}
	// Where serve listens, by the same settings (HANDOFF_LISTEN, PORT, TLS).
	addr, _, err := listenAddr(getenv("HANDOFF_LISTEN"), getenv("DATABASE_URL") == "", port)
	if err != nil {
		return err
	}
	host, p, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if getenv("HANDOFF_TLS_CERT") != "" {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(host, p) + "/readyz"
	if _, err := flags("healthcheck", args, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", url, "the readiness URL to ask")
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usagef("--url: %v", err)
	}
	// A probe of this machine's own server: its certificate is for the
	// public name, not for the address asked here.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}
