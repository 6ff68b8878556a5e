package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/handoffhq/handoff/db"
)

// Problem is an RFC 9457 problem body. Detail is always a string: Omnara's
// SDK reads it as the error message.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail,
	})
}

// statusOf maps a store error code to its HTTP status, once for all routes.
var statusOf = map[db.Code]int{
	db.ENotFound:    http.StatusNotFound,
	db.EInvalid:     http.StatusBadRequest,
	db.EConflict:    http.StatusConflict,
	db.EForbidden:   http.StatusForbidden,
	db.EUnavailable: http.StatusServiceUnavailable,
	db.EInternal:    http.StatusInternalServerError,
}

// writeError writes a store (or other) error as a problem; internal errors
// are logged with their cause and sent without it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := db.ErrorCode(err)
	if code == db.EInternal {
		if r.Context().Err() != nil {
			// The client went away; nothing useful can be sent.
			s.log.InfoContext(r.Context(), "request cancelled", "path", r.URL.Path, "err", err)
		} else {
			s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if code == db.EUnavailable {
		s.log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	}
	writeProblem(w, statusOf[code], db.ErrorMessage(err))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unprocessable reports a broken rule (EInvalid) as 422, as handoff's own
// create routes (keys, webhooks) report every bad field; Omnara's routes
// keep the 400 Omnara answers. Other errors pass unchanged.
func unprocessable(err error) error {
	if db.ErrorCode(err) == db.EInvalid {
		return badRequest(http.StatusUnprocessableEntity, "%s", db.ErrorMessage(err))
	}
	return err
}
