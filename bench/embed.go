// Package bench holds what handoff's load generator ships with it: the
// pgbench script of one send, the bare-SQL reference for `handoff bench send
// --pgbench`.
package bench

import _ "embed"

// PgbenchSend is the pgbench script of the statements of one agent message.
//
//go:embed pgbench_send.sql
var PgbenchSend string
