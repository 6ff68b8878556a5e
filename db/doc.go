// Package db is handoff's core: the Store, on PostgreSQL through pgx.
//
// The Store is the one place the rules of handoff's data live. Every
// operation of the adapters (REST in httpapi, MCP in mcpapi, the web page,
// the operator's CLI) is one Store method, and each runs in one
// transaction (a single statement is its own): it commits whole or leaves
// nothing behind. A
// request that breaks a rule is refused with an *Error whose Code
// (ENotFound, EInvalid, EConflict, EForbidden, EInternal) each adapter
// maps once to its own form; ErrorMessage is what the client may read.
//
// Tenancy: every row of a user's data carries user_id, and every query
// filters on it, so one user's ids never reach another's rows; another
// user's row is reported as not found, never as forbidden. (The users
// table is the tenants themselves; the operator's key-owner lookup is the
// one query that crosses users.)
//
// The SQL lives in sql/queries and the schema in sql/migrations (goose,
// embedded, applied by Migrator). sqlc compiles the queries into the
// generated *.sql.go files, models.go and db.go (go tool task generate);
// the hand-written files hold the Store and its rules.
//
// Waiting: the schema announces changed instances and users with
// pg_notify inside the writing transaction (triggers on events and on the
// read cursor, so no write can forget), but only for ids a Hub watches
// (handoff_watches; an advisory lock orders a new watch after the writers
// that missed it), since a NOTIFY serialises commits. The Hub (one LISTEN
// connection per process) watches the ids its waiters wait on and wakes
// them; they hold no database connection while they wait. A long poll or
// an event stream thus sees a change as soon as it commits on any replica.
//
// Webhooks: the transactions that make an event enqueue its deliveries as
// River jobs (WithJobs) on the same database, so a delivery exists exactly
// when its event committed; package webhook works them. CreateWebhook
// applies the target policy of internal/netguard (WithWebhookPolicy).
// Pushes are enqueued the same way (package push works them), and so is a
// permission request's expiry, scheduled for its deadline in case its
// waiter dies (AddWorkers registers that worker).
//
// Growth: costs stay flat as data grows. Counters replace counts
// (step_count), every list is an index range scan whatever its cursor, and
// the tables that only grow are trimmed by a River periodic job
// (Retention).
package db
