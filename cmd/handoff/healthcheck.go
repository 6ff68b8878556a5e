package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
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
	resp, err := http.DefaultClient.Do(req)
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
