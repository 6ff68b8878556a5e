package httpapi

import (
	"context"
	"net/http"

	"github.com/handoffhq/handoff/auth"
)

// endpoint is the shape of every API route: authenticate (scope at least
// required), parse the request into the input of one store operation, run
// it, render its result. Any error is written as a problem.
func endpoint[In, Out any](s *Server, required auth.Scope,
	parse func(r *http.Request, w http.ResponseWriter, p auth.Principal) (In, error),
	op func(ctx context.Context, in In) (Out, error),
	render func(Out) (status int, body any),
) http.HandlerFunc {
	return s.authed(required, run(s, parse, op, render))
}

// run is an endpoint after authentication: parse, run the operation,
// render (for routes authenticated another way, such as authedLong).
func run[In, Out any](s *Server,
	parse func(r *http.Request, w http.ResponseWriter, p auth.Principal) (In, error),
	op func(ctx context.Context, in In) (Out, error),
	render func(Out) (status int, body any),
) func(http.ResponseWriter, *http.Request, auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) {
		in, err := parse(r, w, p)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out, err := op(r.Context(), in)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		status, body := render(out)
		writeJSON(w, status, body)
	}
}

// fail writes a request error or a store error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if re, ok := err.(*requestError); ok {
		writeProblem(w, re.status, re.detail)
		return
	}
	s.writeError(w, r, err)
}
