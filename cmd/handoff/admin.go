package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/handoffhq/handoff/internal/embedpg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// flags parses a subcommand's flags; a parse error is a usage error.
func flags(name string, args []string, define func(*flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	if err := fs.Parse(args); err != nil {
		return nil, usagef("%s: %v (see handoff help)", name, err)
	}
	return fs, nil
}

// withStore runs fn on a store at DATABASE_URL (no migration: the operator
// runs handoff migrate, or serve does it); without DATABASE_URL, on the
// default mode's private PostgreSQL of the data dir (HANDOFF_DATA_DIR, or
// serve's default): the running one of a serve, or one started for the
// command and stopped after it.
func withStore(ctx context.Context, getenv env, fn func(*db.Store, *pgxpool.Pool) error) error {
	url, err := databaseURL(getenv, false)
	if err != nil {
		return err
	}
	if url == "" {
		cfg := serveConfig{dataDir: dataDirOf(getenv)}
		if err := embeddedSettings(getenv, &cfg); err != nil {
			return err
		}
		var stop func()
		if url, stop, err = privateDatabase(ctx, cfg); err != nil {
			return err
		}
		defer stop()
	}
	pool, err := openPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(db.NewStore(pool), pool)
}

func migrate(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		return usagef("migrate takes one of up, down, status")
	}
	// The migration lock is a session's: past a pooler in transaction
	// mode, migrate goes direct (as serve does).
	if direct := getenv("HANDOFF_DIRECT_DATABASE_URL"); direct != "" {
		base := getenv
		getenv = func(k string) string {
			if k == "DATABASE_URL" {
				return direct
			}
			return base(k)
		}
	}
	return withStore(ctx, getenv, func(_ *db.Store, pool *pgxpool.Pool) error {
		m, err := db.NewMigrator(pool, nil)
		if err != nil {
			return err
		}
		defer m.Close()
		switch args[0] {
		case "up":
			res, err := m.Up(ctx)
			for _, r := range res {
				fmt.Fprintln(stdout, r.String())
			}
			if err == nil && len(res) == 0 {
				fmt.Fprintln(stdout, "no migrations to apply")
			}
			return err
		case "down":
			r, err := m.Down(ctx)
			if r != nil {
				fmt.Fprintln(stdout, r.String())
			}
			return err
		}
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED\tFILE")
		for _, s := range st {
			applied := "-"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, applied, filepath.Base(s.Source.Path))
		}
		return tw.Flush()
	})
}

func keysGenerate(args []string, stdout io.Writer) error {
	var out, alg string
	if _, err := flags("keys generate", args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "", "directory to write jwt_private.pem and jwt_public.pem into")
		fs.StringVar(&alg, "alg", "eddsa", "eddsa or rs256")
	}); err != nil {
		return err
	}
	if out == "" {
		return usagef("keys generate needs --out DIR")
	}
	if a := strings.ToLower(alg); a != "eddsa" && a != "rs256" {
		return usagef("--alg must be eddsa or rs256, not %q", alg)
	}
	if err := auth.WriteKeyFiles(out, alg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(out, auth.PrivateKeyFile), filepath.Join(out, auth.PublicKeyFile))
	return nil
}

func userCreate(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	var email, name string
	if _, err := flags("user create", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email address")
		fs.StringVar(&name, "name", "", "display name (optional)")
	}); err != nil {
		return err
	}
	if email == "" {
		return usagef("user create needs --email E")
	}
	return withStore(ctx, getenv, func(s *db.Store, _ *pgxpool.Pool) error {
		var display *string
		if name != "" {
			display = &name
		}
		u, err := s.CreateUser(ctx, email, display)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, u.ID)
		return nil
	})
}

func tokenIssue(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	var user, scope, name string
	var expires time.Duration
	if _, err := flags("token issue", args, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "user id")
		fs.StringVar(&scope, "scope", "", "agent, user or admin")
		fs.StringVar(&name, "name", "", "a name to recognise the key by")
		fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h (default: no expiry)")
	}); err != nil {
		return err
	}
	userID, err := uuid.Parse(user)
	if err != nil {
		return usagef("token issue needs --user ID (a user id from handoff user create)")
	}
	if !auth.Scope(scope).Valid() {
		return usagef("--scope must be agent, user or admin, not %q", scope)
	}
	// Keys live whole days (auth.IssueToken's rule); the flag keeps Go's
	// duration syntax.
	var days *int
	if expires != 0 {
		if expires < 0 || expires%(24*time.Hour) != 0 {
			return usagef("--expires must be a whole number of days, e.g. 720h for 30, not %v", expires)
		}
		d := int(expires / (24 * time.Hour))
		days = &d
	}
	keys, err := signingKeys(getenv)
	if err != nil {
		return err
	}
	if name == "" {
		name = scope + " key"
	}
	return withStore(ctx, getenv, func(s *db.Store, _ *pgxpool.Pool) error {
		// The operator may mint any scope for any user.
		req := auth.OperatorRequest(userID, name, auth.Scope(scope))
		req.ExpiresInDays = days
		tok, _, err := auth.IssueToken(ctx, s, keys, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		return nil
	})
}

func tokenRevoke(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("token revoke takes one KEY_ID")
	}
	keyID, err := uuid.Parse(args[0])
	if err != nil {
		return usagef("KEY_ID must be a key id (see handoff token list), not %q", args[0])
	}
	return withStore(ctx, getenv, func(s *db.Store, _ *pgxpool.Pool) error {
		owner, err := s.APIKeyOwner(ctx, keyID)
		if err != nil {
			return err
		}
		k, err := s.RevokeAPIKey(ctx, owner, keyID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s at %s\n", k.ID, k.RevokedAt.UTC().Format(time.RFC3339))
		return nil
	})
}

func tokenList(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	var user string
	if _, err := flags("token list", args, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "user id")
	}); err != nil {
		return err
	}
	userID, err := uuid.Parse(user)
	if err != nil {
		return usagef("token list needs --user ID")
	}
	return withStore(ctx, getenv, func(s *db.Store, _ *pgxpool.Pool) error {
		keys, err := s.ListAPIKeys(ctx, userID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tEXPIRES\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope,
				k.CreatedAt.UTC().Format(time.RFC3339), fmtTime(k.ExpiresAt), fmtTime(k.RevokedAt))
		}
		return tw.Flush()
	})
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// dataDirOf is the data dir of the default mode: HANDOFF_DATA_DIR, else
// serve's default.
func dataDirOf(getenv env) string {
	if d := getenv("HANDOFF_DATA_DIR"); d != "" {
		return d
	}
	return defaultDataDir(getenv)
}

// privateDatabase returns the URL of the data dir's private PostgreSQL,
// as serve configured by the same settings runs it: that of a running
// serve, or one started now (stop stops it).
func privateDatabase(ctx context.Context, cfg serveConfig) (string, func(), error) {
	pgDir := filepath.Join(cfg.dataDir, "postgres")
	if u, ok := embedpg.Running(pgDir); ok {
		return u, func() {}, nil
	}
	if _, err := os.Stat(filepath.Join(pgDir, "pgdata", "PG_VERSION")); err != nil {
		return "", nil, usagef("DATABASE_URL is not set, and %s has no database yet: start handoff serve once (or set DATABASE_URL)", cfg.dataDir)
	}
	lock, err := embedpg.LockDir(cfg.dataDir)
	if err != nil {
		return "", nil, err
	}
	pg, err := startEmbedded(ctx, cfg, nil)
	if err != nil {
		lock.Unlock()
		return "", nil, err
	}
	return pg.URL, func() { _ = pg.Stop(); lock.Unlock() }, nil
}

// signingKeys are the keys tokens are signed with: JWT_PRIVATE_KEY (and
// JWT_PUBLIC_KEY), else, for the default mode or an explicit data dir,
// the key files serve made there.
func signingKeys(getenv env) (*auth.Keys, error) {
	src := readKeySource(getenv, "")
	if !src.fromEnv() && (getenv("DATABASE_URL") == "" || getenv("HANDOFF_DATA_DIR") != "") {
		dir := filepath.Join(dataDirOf(getenv), "keys")
		if _, err := os.Stat(filepath.Join(dir, auth.PrivateKeyFile)); err != nil {
			return nil, usagef("JWT_PRIVATE_KEY is not set, and %s has no keys yet: start handoff serve once", dir)
		}
		src.dir = dir
	}
	if err := src.signing(" (PEM text or a file path); tokens are signed with it"); src.dir == "" && err != nil {
		return nil, err
	}
	return loadKeys(src)
}

// handoff signin-link: a fresh sign-in link for the web page, for the
// first start's user or --user.
func signinLink(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	var userFlag string
	if _, err := flags("signin-link", args, func(fs *flag.FlagSet) {
		fs.StringVar(&userFlag, "user", "", "the user (default: the one the first start made)")
	}); err != nil {
		return err
	}
	if userFlag == "" {
		b, err := os.ReadFile(filepath.Join(dataDirOf(getenv), firstRunMarker))
		if err != nil {
			return usagef("signin-link needs --user ID (no first start recorded in %s)", dataDirOf(getenv))
		}
		userFlag = strings.TrimSpace(string(b))
	}
	userID, err := uuid.Parse(userFlag)
	if err != nil {
		return usagef("--user must be a user id, not %q", userFlag)
	}
	keys, err := signingKeys(getenv)
	if err != nil {
		return err
	}
	// serve's own idea of where it is reached (public URL, or TLS and port).
	cfg, err := loadServeConfig(nil, getenv)
	if err != nil {
		return err
	}
	base := cfg.publicURL
	return withStore(ctx, getenv, func(s *db.Store, _ *pgxpool.Pool) error {
		tok, _, err := auth.IssueToken(ctx, s, keys, auth.OperatorRequest(userID, "web sign-in", auth.ScopeUser))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s/#token=%s\n", strings.TrimRight(base, "/"), tok)
		return nil
	})
}
