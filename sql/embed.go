// Package sql holds handoff's schema migrations and the hand-written queries
// that sqlc compiles into package db. Migrations are embedded so the binary
// can apply them itself (handoff migrate, and at serve start).
package sql

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the goose migrations, rooted at the migrations folder.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded path is fixed at compile time
	}
	return sub
}
