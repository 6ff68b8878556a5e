package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/google/uuid"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// requestError is a request refused before any work: a status and a detail.
type requestError struct {
	status int
	detail string
}

func (e *requestError) Error() string { return e.detail }

func badRequest(status int, format string, args ...any) error {
	return &requestError{status: status, detail: fmt.Sprintf(format, args...)}
}

// decodeJSON reads the body of r, at most MaxBodyBytes, as one JSON object
// into dst. strict also refuses fields dst does not have (our own routes;
// Omnara's routes ignore unknown fields as Omnara does).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, strict bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return badRequest(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		return badRequest(http.StatusRequestTimeout, "the request body took too long to arrive")
	} else if err != nil {
		return badRequest(http.StatusBadRequest, "could not read the request body")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return badRequest(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return badRequest(http.StatusBadRequest, "request body must be a JSON object")
	}
	if trimmed[0] != '{' {
		return badRequest(http.StatusUnprocessableEntity, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	return nil
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return badRequest(http.StatusBadRequest, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(http.StatusBadRequest, "malformed JSON: unexpected end of input")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return badRequest(http.StatusUnprocessableEntity, "%s must be %s, not %s", field, jsonTypeName(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest(http.StatusUnprocessableEntity, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest(http.StatusBadRequest, "malformed JSON: %v", err)
}

func jsonTypeName(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch goType {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "float64":
		return "a number"
	}
	if strings.HasPrefix(goType, "map[") || strings.HasPrefix(goType, "struct") || goType == "json.RawMessage" {
		return "an object"
	}
	return "of another type"
}

// required returns *p, or a 422 naming the missing field.
func required[T any](p *T, name string) (T, error) {
	if p == nil {
		var zero T
		return zero, badRequest(http.StatusUnprocessableEntity, "%s is required", name)
	}
	return *p, nil
}

// parseUUID parses an id the client sent, naming it in the error.
func parseUUID(s, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil || len(strings.TrimSpace(s)) != 36 {
		return uuid.Nil, badRequest(http.StatusUnprocessableEntity, "%s must be a UUID, got %q", name, truncate(s, 64))
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// requiredUUID returns the UUID in a required string field.
func requiredUUID(p *string, name string) (uuid.UUID, error) {
	raw, err := required(p, name)
	if err != nil {
		return uuid.Nil, err
	}
	return parseUUID(raw, name)
}
