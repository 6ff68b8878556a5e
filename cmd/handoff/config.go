package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/mcpapi"
)

// Configuration, in one place: every command's settings are parsed from
// its flags and the environment here, and every check happens here, before
// the command has any effect (a PostgreSQL started, a directory made, a
// migration run). A bad or missing setting is a usageError: one line on
// stderr and exit code 2.

// env is the process environment, as a function so tests can supply one.
type env func(string) string

// serveConfig is serve's configuration.
type serveConfig struct {
	dataDir     string // the embedded default's state: PostgreSQL, keys, first-run marker
	embedded    bool   // no DATABASE_URL: a private PostgreSQL in dataDir
	databaseURL string // DATABASE_URL, or set once the embedded PostgreSQL runs
	// directURL (HANDOFF_DIRECT_DATABASE_URL) reaches PostgreSQL itself
	// when DATABASE_URL goes through a pooler in transaction mode: the
	// hub's LISTEN and the migrations' session lock need a session.
	directURL string
	port      int
	// listen is the address served (host:port): --listen/HANDOFF_LISTEN,
	// else loopback for the embedded default (a private, single-person
	// setup) and every interface with DATABASE_URL (a deployment).
	listen          string
	tlsCert, tlsKey string
	trustedProxies  []netip.Prefix
	publicURL       string
	publicURLSet    bool // HANDOFF_PUBLIC_URL given (else publicURL is the default)
	pprofAddr       string

	// keys are the JWT keys of the environment, or nil for the embedded
	// default's own, which loadKeys makes in keySource.dir on the first
	// start (after every check).
	keys      *auth.Keys
	keySource keySource

	embeddedPostgres string // "", binaries or docker
	postgresImage    string

	allowUntracked      bool
	shutdownTimeout     time.Duration
	mcpStateless        bool
	mcpWait             time.Duration
	hookWait            time.Duration
	mcpSessionIdle      time.Duration
	dbTimeout           time.Duration
	webhookAllowPrivate bool
	maxConnsPerClient   int
	retention           db.Retention
	logLevel            slog.Level
	// heapFloor is the garbage collector's minimum heap goal in bytes
	// (HANDOFF_GC_HEAP_FLOOR; 0 turns it off). Off when the operator set
	// GOGC, whose choice stands.
	heapFloor uint64
}

// loadServeConfig parses serve's flags and environment. It reads (a key
// file) but writes and starts nothing.
func loadServeConfig(args []string, getenv env) (serveConfig, error) {
	cfg := serveConfig{shutdownTimeout: 30 * time.Second, mcpWait: mcpapi.DefaultWait, hookWait: db.DefaultPermissionWait, mcpSessionIdle: mcpapi.DefaultSessionIdle,
		dbTimeout: db.DefaultOpTimeout,
		retention: db.DefaultRetention}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stateless := fs.Bool("mcp-stateless", false, "serve MCP without sessions (as HANDOFF_MCP_STATELESS=1)")
	fs.StringVar(&cfg.dataDir, "data-dir", getenv("HANDOFF_DATA_DIR"), "the embedded default's state directory")
	fs.StringVar(&cfg.listen, "listen", getenv("HANDOFF_LISTEN"), "the address to serve, host:port")
	fs.StringVar(&cfg.tlsCert, "tls-cert", getenv("HANDOFF_TLS_CERT"), "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&cfg.tlsKey, "tls-key", getenv("HANDOFF_TLS_KEY"), "and this private key (PEM)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cfg, usagef("serve takes only --mcp-stateless, --data-dir, --listen, --tls-cert and --tls-key; the rest is configured by the environment (see handoff help)")
	}
	dataDirSet := cfg.dataDir != ""
	if !dataDirSet {
		cfg.dataDir = defaultDataDir(getenv)
	}
	var err error
	if cfg.databaseURL, err = databaseURL(getenv, false); err != nil {
		return cfg, err
	}
	cfg.embedded = cfg.databaseURL == ""
	if cfg.directURL = getenv("HANDOFF_DIRECT_DATABASE_URL"); cfg.directURL != "" {
		if cfg.embedded {
			return cfg, usagef("HANDOFF_DIRECT_DATABASE_URL goes with DATABASE_URL (the embedded default needs neither)")
		}
		if _, err := pgxpool.ParseConfig(cfg.directURL); err != nil {
			return cfg, usagef("HANDOFF_DIRECT_DATABASE_URL is not a valid PostgreSQL connection string: %v", err)
		}
	}
	if cfg.port, err = listenPort(getenv); err != nil {
		return cfg, err
	}
	if cfg.listen, cfg.port, err = listenAddr(cfg.listen, cfg.embedded, cfg.port); err != nil {
		return cfg, err
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, usagef("--tls-cert and --tls-key go together")
	}
	if cfg.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey); err != nil {
			return cfg, usagef("--tls-cert/--tls-key: %v", err)
		}
	}
	if cfg.trustedProxies, err = parsePrefixes(getenv("HANDOFF_TRUSTED_PROXIES")); err != nil {
		return cfg, usagef("HANDOFF_TRUSTED_PROXIES: %v", err)
	}
	// Key files in the data dir: the embedded default's, and with
	// DATABASE_URL those of a data dir given explicitly (the container
	// image's volume), both made on the first start.
	if cfg.embedded || dataDirSet {
		cfg.keySource = readKeySource(getenv, filepath.Join(cfg.dataDir, "keys"))
	} else {
		cfg.keySource = readKeySource(getenv, "")
	}
	if cfg.keySource.fromEnv() || cfg.keySource.dir == "" {
		if cfg.keys, err = loadKeys(cfg.keySource); err != nil {
			return cfg, err
		}
	}
	for _, err := range []error{
		envBool(getenv, "HANDOFF_ALLOW_UNTRACKED_TOKENS", &cfg.allowUntracked),
		envBool(getenv, "HANDOFF_MCP_STATELESS", &cfg.mcpStateless),
		envSeconds(getenv, "HANDOFF_MCP_WAIT", "50s", &cfg.mcpWait),
		envSeconds(getenv, "HANDOFF_HOOK_WAIT", "540s", &cfg.hookWait),
		envDuration(getenv, "HANDOFF_MCP_SESSION_IDLE", "30m", &cfg.mcpSessionIdle),
		envDuration(getenv, "HANDOFF_DB_TIMEOUT", "10s", &cfg.dbTimeout),
		envBool(getenv, "HANDOFF_WEBHOOK_ALLOW_PRIVATE", &cfg.webhookAllowPrivate),
		envDuration(getenv, "HANDOFF_SHUTDOWN_TIMEOUT", "30s", &cfg.shutdownTimeout),
		envAddr(getenv, "HANDOFF_PPROF_ADDR", &cfg.pprofAddr),
		envKeep(getenv, "HANDOFF_RETAIN_EVENTS", &cfg.retention.Events),
		envKeep(getenv, "HANDOFF_RETAIN_IDEMPOTENCY_KEYS", &cfg.retention.IdempotencyKeys),
		envKeep(getenv, "HANDOFF_RETAIN_WEBHOOK_DELIVERIES", &cfg.retention.WebhookDeliveries),
		envLogLevel(getenv, "HANDOFF_LOG_LEVEL", &cfg.logLevel),
		envCount(getenv, "HANDOFF_MAX_CONNS_PER_CLIENT", &cfg.maxConnsPerClient),
	} {
		if err != nil {
			return cfg, err
		}
	}
	cfg.mcpStateless = cfg.mcpStateless || *stateless
	if cfg.heapFloor, err = heapFloor(getenv); err != nil {
		return cfg, err
	}
	if err := embeddedSettings(getenv, &cfg); err != nil {
		return cfg, err
	}
	cfg.publicURL = getenv("HANDOFF_PUBLIC_URL")
	cfg.publicURLSet = cfg.publicURL != ""
	if !cfg.publicURLSet {
		cfg.publicURL = cfg.defaultPublicURL(cfg.port)
	}
	return cfg, nil
}

// listenAddr is the address serve listens on and its port: listen
// (--listen, HANDOFF_LISTEN) when given, else port on loopback for the
// embedded default and on every interface otherwise.
func listenAddr(listen string, embedded bool, port int) (string, int, error) {
	if listen == "" {
		host := ""
		if embedded {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, strconv.Itoa(port)), port, nil
	}
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, usagef("--listen/HANDOFF_LISTEN must be host:port (e.g. 127.0.0.1:8080 or :8080), not %q", listen)
	}
	if n, err := strconv.Atoi(p); err == nil {
		port = n
	}
	return listen, port, nil
}

// embeddedSettings reads how the embedded default runs its PostgreSQL
// (serve, and admin commands that start it themselves, alike).
func embeddedSettings(getenv env, cfg *serveConfig) error {
	cfg.postgresImage = getenv("HANDOFF_POSTGRES_IMAGE")
	if cfg.postgresImage == "" {
		cfg.postgresImage = "postgres:17-alpine"
	}
	return envOneOf(getenv, "HANDOFF_EMBEDDED_POSTGRES", []string{"binaries", "docker"}, &cfg.embeddedPostgres)
}

// defaultPublicURL is where this machine reaches the server on port when
// HANDOFF_PUBLIC_URL is not set.
func (cfg serveConfig) defaultPublicURL(port int) string {
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://localhost:%d", scheme, port)
}

// defaultDataDir is where the embedded default keeps its PostgreSQL, keys
// and first-run marker: the user's state directory (as root, /var/lib,
// which the postgres user can reach).
func defaultDataDir(getenv env) string {
	if os.Geteuid() == 0 {
		return "/var/lib/handoff"
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "handoff")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "handoff")
	}
	return filepath.Join(os.TempDir(), "handoff")
}

// databaseURL is the one reading of DATABASE_URL: checked, and "" when
// unset unless required.
func databaseURL(getenv env, required bool) (string, error) {
	u := getenv("DATABASE_URL")
	if u == "" {
		if required {
			return "", usagef("DATABASE_URL is not set (a PostgreSQL URL such as postgres://user:pass@localhost:5432/handoff)")
		}
		return "", nil
	}
	if _, err := pgxpool.ParseConfig(u); err != nil {
		return "", usagef("DATABASE_URL is not a valid PostgreSQL connection string: %v", err)
	}
	return u, nil
}

// keySource is where JWT keys come from: JWT_PUBLIC_KEY and
// JWT_PRIVATE_KEY (PEM text or file paths), else the key files in dir
// (the embedded default's, or an explicit data dir's).
type keySource struct {
	pub, priv string
	dir       string
}

func readKeySource(getenv env, dir string) keySource {
	return keySource{pub: getenv("JWT_PUBLIC_KEY"), priv: getenv("JWT_PRIVATE_KEY"), dir: dir}
}

func (s keySource) fromEnv() bool { return s.pub != "" || s.priv != "" }

// signing checks that s can sign tokens; why ends the message.
func (s keySource) signing(why string) error {
	if s.priv == "" {
		return usagef("JWT_PRIVATE_KEY is not set%s", why)
	}
	return nil
}

// loadKeys is the one place keys are loaded. Its only write: the embedded
// default's key files, made in s.dir when they do not exist yet (its first
// start), so call it for those after every check.
func loadKeys(s keySource) (*auth.Keys, error) {
	pub, priv := s.pub, s.priv
	if !s.fromEnv() {
		if s.dir == "" {
			return nil, usagef("JWT_PUBLIC_KEY is not set (PEM text or a file path; make keys with: handoff keys generate --out DIR)")
		}
		if _, err := os.Stat(filepath.Join(s.dir, auth.PrivateKeyFile)); errors.Is(err, os.ErrNotExist) {
			if err := auth.WriteKeyFiles(s.dir, "eddsa"); err != nil {
				return nil, fmt.Errorf("make keys in %s: %w", s.dir, err)
			}
		}
		pub, priv = filepath.Join(s.dir, auth.PublicKeyFile), filepath.Join(s.dir, auth.PrivateKeyFile)
	}
	keys, err := auth.LoadKeys(pub, priv)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return keys, nil
}

// listenPort: PORT wins when set (as on hosting platforms), then
// MCP_SERVER_PORT, then 8080.
func listenPort(getenv env) (int, error) {
	port := 8080
	name := "PORT"
	if v := getenv(name); v == "" || v == "$PORT" {
		name = "MCP_SERVER_PORT"
	}
	return port, envPort(getenv, name, &port)
}

// The env* helpers each read one setting into dst when it is set (dst
// keeps its default otherwise) and return a usage error naming it when it
// is bad.

func envBool(getenv env, name string, dst *bool) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return usagef("%s must be 1 or 0 (true or false), not %q", name, v)
	}
	*dst = b
	return nil
}

// envDuration reads a positive Go duration; example is shown on error.
func envDuration(getenv env, name, example string, dst *time.Duration) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return usagef("%s must be a positive duration such as %s, not %q", name, example, v)
	}
	*dst = d
	return nil
}

// envKeep reads how long rows are kept: a positive Go duration, or 0 for
// for ever.
func envKeep(getenv env, name string, dst *time.Duration) error {
	if getenv(name) == "0" {
		*dst = 0
		return nil
	}
	return envDuration(getenv, name, "168h, or 0 to keep rows for ever", dst)
}

// envSeconds reads a positive Go duration or a bare number of seconds.
func envSeconds(getenv env, name, example string, dst *time.Duration) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	d, err := parseSeconds(v)
	if err != nil || d <= 0 {
		return usagef("%s must be a positive duration such as %s (or a number of seconds), not %q", name, example, v)
	}
	*dst = d
	return nil
}

// parseSeconds reads a Go duration ("50s") or a bare number of seconds.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

func envPort(getenv env, name string, dst *int) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	p, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || p < 0 || p > 65535 {
		return usagef("%s must be a port number (0-65535), not %q", name, v)
	}
	*dst = p
	return nil
}

// envCount reads a whole number, 0 or more.
func envCount(getenv env, name string, dst *int) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return usagef("%s must be a whole number, 0 or more, not %q", name, v)
	}
	*dst = n
	return nil
}

func envOneOf(getenv env, name string, allowed []string, dst *string) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return usagef("%s must be %s, not %q", name, strings.Join(allowed, " or "), v)
}

// heapFloor is serve's minimum heap goal (internal/gcfloor):
// HANDOFF_GC_HEAP_FLOOR, default 64 MiB of garbage between collections
// where GOGC alone would collect every few MiB; 0 turns it off, and so
// does GOGC, the operator's own choice.
func heapFloor(getenv env) (uint64, error) {
	floor := uint64(64 << 20)
	if err := envBytes(getenv, "HANDOFF_GC_HEAP_FLOOR", &floor); err != nil || getenv("GOGC") != "" {
		return 0, err
	}
	return floor, nil
}

// envBytes reads a size in bytes: a whole number with an optional unit
// (B, KiB, MiB, GiB, as GOMEMLIMIT writes them).
func envBytes(getenv env, name string, dst *uint64) error {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil
	}
	num, mult := v, uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
	if err != nil || n > (1<<50)/mult {
		return usagef("%s must be a size such as 64MiB (B, KiB, MiB or GiB), or 0, not %q", name, v)
	}
	*dst = n * mult
	return nil
}

// envAddr reads a host:port listen address.
func envAddr(getenv env, name string, dst *string) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return usagef("%s must be a listen address such as 127.0.0.1:6060, not %q", name, v)
	}
	*dst = v
	return nil
}

// agentFlags is how an agent's shell commands (send, ask, end) reach a
// server.
type agentFlags struct {
	url, key, instance, agentType string
	timeout                       time.Duration
}

func parseAgentFlags(name string, args []string, getenv env, withTimeout bool) (agentFlags, []string, error) {
	var f agentFlags
	fs, err := flags(name, args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.url, "url", getenv("HANDOFF_URL"), "the server (HANDOFF_URL)")
		fs.StringVar(&f.key, "key", getenv("HANDOFF_API_KEY"), "an agent key (HANDOFF_API_KEY)")
		fs.StringVar(&f.instance, "instance", getenv("HANDOFF_AGENT_INSTANCE_ID"), "the session id (HANDOFF_AGENT_INSTANCE_ID)")
		fs.StringVar(&f.agentType, "agent-type", getenv("HANDOFF_CLIENT_TYPE"), "agent type for a new session (HANDOFF_CLIENT_TYPE)")
		if withTimeout {
			fs.DurationVar(&f.timeout, "timeout", 24*time.Hour, "how long to wait for the answer")
		}
	})
	if err != nil {
		return f, nil, err
	}
	if f.url == "" {
		f.url = "http://127.0.0.1:8080"
	}
	if f.agentType == "" {
		f.agentType = "cli"
	}
	if f.key == "" {
		return f, nil, usagef("%s needs an agent key: --key or HANDOFF_API_KEY", name)
	}
	return f, fs.Args(), nil
}

// stdioConfig is mcp-stdio's: the server whose /mcp/ it proxies.
type stdioConfig struct {
	url, key, clientType string
}

func loadStdioConfig(args []string, getenv env) (stdioConfig, error) {
	var c stdioConfig
	if _, err := flags("mcp-stdio", args, func(fs *flag.FlagSet) {
		fs.StringVar(&c.url, "url", getenv("HANDOFF_URL"), "the handoff server (HANDOFF_URL)")
		fs.StringVar(&c.key, "api-key", getenv("HANDOFF_API_KEY"), "an agent key (HANDOFF_API_KEY)")
		fs.StringVar(&c.clientType, "client-type", getenv("HANDOFF_CLIENT_TYPE"), "agent type of new sessions (HANDOFF_CLIENT_TYPE)")
	}); err != nil {
		return c, err
	}
	if c.url == "" {
		c.url = "http://127.0.0.1:8080"
	}
	if u, err := url.Parse(c.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, usagef("mcp-stdio: the server URL must be an http(s) URL, not %q", c.url)
	}
	if c.key == "" {
		return c, usagef("mcp-stdio needs an agent key: --api-key or HANDOFF_API_KEY")
	}
	return c, nil
}

// envLogLevel reads a log level: debug, info (the default), warn or error.
func envLogLevel(getenv env, name string, dst *slog.Level) error {
	v := "info"
	if err := envOneOf(getenv, name, []string{"debug", "info", "warn", "error"}, &v); err != nil {
		return err
	}
	return dst.UnmarshalText([]byte(v))
}

// parsePrefixes reads a comma-separated list of CIDR prefixes or single
// addresses.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
