package auth_test

import "net/http"

func newRequest(authorization string) (*http.Request, error) {
	r, err := http.NewRequest(http.MethodGet, "http://localhost/", nil)
	if err == nil && authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r, err
}
