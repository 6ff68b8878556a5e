package db

import (
	"errors"
	"fmt"
)

// Code classifies a store error. Each adapter maps a code to its own form
// once (an HTTP status and problem body, an MCP tool error); the message of
// an Error is meant for the client.
type Code string

const (
	// ENotFound: the row does not exist for this user. Another user's rows
	// are reported the same way, so ids of other tenants cannot be probed.
	ENotFound Code = "not_found"
	// EInvalid: the request breaks a rule; nothing was written.
	EInvalid Code = "invalid"
	// EConflict: the request collides with existing state (a taken id, an
	// idempotency key reused for a different request).
	EConflict Code = "conflict"
	// EForbidden: who asks may not do this (a user token minting an admin
	// token); nothing was written.
	EForbidden Code = "forbidden"
	// EUnavailable: PostgreSQL could not be reached or did not answer in
	// time; nothing may have been written, and a retry may succeed.
	EUnavailable Code = "unavailable"
	// EInternal: anything else; its details are logged, never sent.
	EInternal Code = "internal"
)

// Error is a store error with a code and a message for the client.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: that of the *Error it wraps, else
// EUnavailable for a database that cannot be reached or did not answer in
// time, else EInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if unavailable(err) {
		return EUnavailable
	}
	return EInternal
}

// ErrorMessage returns the client message of err, or a generic one for
// internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if unavailable(err) {
		return "the database is unavailable; try again shortly"
	}
	return "Internal server error"
}
