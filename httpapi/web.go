package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// The web page: a person signs in with a user token (kept in an HttpOnly,
// SameSite=Strict cookie), sees the sessions with those waiting for input
// on top, reads a conversation and its latest git diff, answers, and
// manages agent keys. Server-rendered html/template (which escapes all an
// agent wrote), embedded assets, a little plain JavaScript for live
// updates; no build step, nothing from elsewhere.

//go:embed web
var webFiles embed.FS

// SessionCookie holds the signed-in person's token.
const SessionCookie = "handoff_session"

var pages = map[string]*template.Template{}

func init() {
	funcs := template.FuncMap{
		"ago":        ago,
		"date":       func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"statusText": func(s db.AgentStatus) string { return strings.ToLower(strings.ReplaceAll(string(s), "_", " ")) },
		"brief":      brief,
		"join":       strings.Join,
		"host": func(raw string) string {
			if u, err := url.Parse(raw); err == nil && u.Host != "" {
				return u.Host
			}
			return raw
		},
	}
	for _, p := range []string{"login", "list", "session", "keys", "notfound", "notifications"} {
		pages[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(webFiles, "web/layout.html", "web/"+p+".html"))
	}
}

// brief is a message in a list: the words its Markdown shows, without
// Omnara's options block (no **, code fences or table rules).
func brief(content string) string {
	text, _ := db.SplitOptions(content)
	return plainText(text)
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return t.UTC().Format("2 Jan 15:04")
}

// pageData is what every page's layout reads.
type pageData struct {
	Title, Page, CSRF string
	SignedIn          bool
	// EventsFrom is where the page's live updates start: the event stream
	// as of rendering, so nothing that happens after is missed.
	EventsFrom string
	InstanceID string
	Error      string
	// UserID is the signed-in person's (the page's script compares a
	// sign-in link's account with it).
	UserID string

	Waiting, Others []listItem
	// Show is the list's filter: "" (all), waiting, active, completed.
	Show string

	Instance *db.InstanceInfo
	Messages []msgView
	AfterSeq int64
	Diff     []diffFile
	CanReply bool
	// Asking: an ordinary question waits (the reply box answers it;
	// permission requests have their own buttons).
	Asking bool

	Keys     []db.APIKey
	NewToken string

	// WaitingCount: how many sessions wait for the person (the tab's title
	// and icon show it); WaitingIDs are they (the page's script keeps the
	// count from the event stream).
	WaitingCount int
	WaitingIDs   string
	// BaseURL is where agents reach this server (the empty list's how-to).
	BaseURL string
	// Draft is a reply that could not be sent, given back to edit.
	Draft string

	Devices    []db.PushSubscription
	Webhooks   []db.Webhook
	EventTypes []string
	Notice     string
}

type diffLine struct{ Class, Text string }

// diffFile is one file of a git diff: shown on its own, collapsible.
type diffFile struct {
	Name       string
	Adds, Dels int
	Lines      []diffLine
}

// diffFiles splits a diff's lines by file ("diff --git a/x b/x").
func diffFiles(lines []diffLine) []diffFile {
	var files []diffFile
	for _, l := range lines {
		if strings.HasPrefix(l.Text, "diff --git ") || len(files) == 0 {
			name := strings.TrimPrefix(l.Text, "diff --git ")
			if _, b, ok := strings.Cut(name, " b/"); ok {
				name = b
			}
			files = append(files, diffFile{Name: name})
		}
		f := &files[len(files)-1]
		switch l.Class {
		case "add":
			f.Adds++
		case "del":
			f.Dels++
		}
		f.Lines = append(f.Lines, l)
	}
	return files
}

func (s *Server) webRoutes() {
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err)
	}
	s.handle("GET /static/", staticFiles(static))
	// The installable app: its manifest, and the service worker at the
	// root so that its scope is the whole page.
	s.handle("GET /manifest.webmanifest", rootFile(static, "static/manifest.webmanifest", "application/manifest+json"))
	s.handle("GET /sw.js", rootFile(static, "static/sw.js", "text/javascript; charset=utf-8"))
	// Forms are same-origin only (Sec-Fetch-Site / Origin), and carry a
	// token derived from the session as well.
	cop := http.NewCrossOriginProtection()
	post := func(pattern string, h http.HandlerFunc) { s.handle(pattern, cop.Handler(h).ServeHTTP) }
	post("POST /login", s.login)
	post("POST /logout", s.signedIn(s.logout))
	s.handle("GET /sessions/{id}", s.signedIn(s.sessionPage))
	post("POST /sessions/{id}/reply", s.signedIn(s.reply))
	s.handle("GET /keys", s.signedIn(s.keysPage))
	post("POST /keys", s.signedIn(s.createKeyForm))
	post("POST /keys/{id}/revoke", s.signedIn(s.revokeKeyForm))
	post("POST /devices", s.signedIn(s.addDevice))
	s.handle("GET /notifications", s.signedIn(s.notificationsPage))
	post("POST /notifications/webhooks", s.signedIn(s.addWebhookForm))
	post("POST /notifications/webhooks/{id}/test", s.signedIn(s.testWebhookForm))
	post("POST /notifications/webhooks/{id}/remove", s.signedIn(s.removeWebhookForm))
	post("POST /notifications/devices/{id}/test", s.signedIn(s.testDeviceForm))
	post("POST /notifications/devices/{id}/remove", s.signedIn(s.removeDeviceForm))
}

// csrfToken is derived from the session token: only who holds the cookie's
// value can compute it.
func csrfToken(sessionToken string) string {
	sum := sha256.Sum256([]byte("handoff-csrf:" + sessionToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// cookiePrincipal verifies the session cookie (a user-scope token).
func (s *Server) cookiePrincipal(r *http.Request) (auth.Principal, string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return auth.Principal{}, "", false
	}
	p, err := s.verifier.Verify(r.Context(), c.Value)
	if err != nil || !p.Allows(auth.ScopeUser) {
		return auth.Principal{}, "", false
	}
	return p, c.Value, true
}

type webSession struct {
	p    auth.Principal
	csrf string
}

// signedIn runs h for a signed-in person; others go to the sign-in page.
// Posted forms must carry the session's CSRF token.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, webSession)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, tok, ok := s.cookiePrincipal(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			writeProblem(w, http.StatusUnauthorized, "sign in first")
			return
		}
		ws := webSession{p: p, csrf: csrfToken(tok)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ws.csrf)) != 1 {
				writeProblem(w, http.StatusForbidden, "the form is stale or not from this site; reload the page")
				return
			}
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.user = p.UserID.String()
		}
		h(w, r, ws)
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	d.Page = page
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if err := pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
	}
}

// eventsFrom is where a page's live updates start. Taken before the page
// reads its data, so a change committed in between is delivered (perhaps
// twice, which the page shrugs off) rather than missed.
func (s *Server) eventsFrom(r *http.Request) string {
	c, err := s.store.EventsStart(r.Context())
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d.%d", c.Xid, c.Seq)
}

// wantsHTML tells a browser (the page) from an API client (Omnara's JSON).
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// home is the sign-in page or the session list.
// listFilters are the session list's filters (?show=).
var listFilters = map[string]db.AgentStatus{
	"waiting": db.AgentStatusAWAITINGINPUT, "active": db.AgentStatusACTIVE, "completed": db.AgentStatusCOMPLETED,
}

// listItem is a session in the list: with a title (its name, else its
// first message) and its latest message.
type listItem struct {
	db.InstanceInfo
	Title, Preview string
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	p, tok, ok := s.cookiePrincipal(r)
	if !ok {
		s.render(w, r, http.StatusOK, "login", pageData{Title: "Sign in"})
		return
	}
	from := s.eventsFrom(r)
	show := r.URL.Query().Get("show")
	var status *db.AgentStatus
	if st, ok := listFilters[show]; ok {
		status = &st
	} else {
		show = ""
	}
	items, _, err := s.store.ListInstances(r.Context(), p.UserID, status, nil, db.MaxPageSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	previews, err := s.store.Previews(r.Context(), p.UserID, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := pageData{Title: "Sessions", SignedIn: true, CSRF: csrfToken(tok), EventsFrom: from, UserID: p.UserID.String(),
		BaseURL: s.baseURL(r), Show: show}
	for _, it := range items {
		pv := previews[it.ID]
		li := listItem{InstanceInfo: it, Title: clipText(brief(pv.First), 80), Preview: clipText(brief(pv.Last), 140)}
		if it.Name != nil && *it.Name != "" {
			li.Title = *it.Name
		}
		if it.Status == db.AgentStatusAWAITINGINPUT && show == "" {
			d.Waiting = append(d.Waiting, li)
		} else {
			d.Others = append(d.Others, li)
		}
	}
	d.WaitingCount = len(d.Waiting)
	if show != "" {
		waiting, _, err := s.store.ListInstances(r.Context(), p.UserID, ptrTo(db.AgentStatusAWAITINGINPUT), nil, db.MaxPageSize)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		d.WaitingCount = len(waiting)
	}
	s.render(w, r, http.StatusOK, "list", d)
}

// clipText shortens s to n characters on one line.
func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	p, err := s.verifier.Verify(r.Context(), tok)
	if err != nil || !p.Allows(auth.ScopeUser) {
		msg := "That token is not valid."
		if err == nil {
			msg = "That is an agent key; sign in with a user token."
		}
		s.render(w, r, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: msg})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.forwardedHTTPS(r), MaxAge: 30 * 24 * 3600,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ webSession) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// maxShownMessages is how much of a conversation the page shows (the end).
const maxShownMessages = 500

func (s *Server) sessionPage(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.renderSession(w, r, ws, http.StatusOK, "", "")
}

// renderSession renders a session's page: with status, an error to show
// and the draft reply that failed (kept for the person to edit).
func (s *Server) renderSession(w http.ResponseWriter, r *http.Request, ws webSession, status int, errMsg, draft string) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		s.notFound(w, r, ws)
		return
	}
	from := s.eventsFrom(r)
	inst, err := s.store.GetInstance(r.Context(), ws.p.UserID, id)
	if db.ErrorCode(err) == db.ENotFound {
		s.notFound(w, r, ws)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs, err := s.store.RecentMessages(r.Context(), ws.p.UserID, id, maxShownMessages)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	waiting, _, err := s.store.ListInstances(r.Context(), ws.p.UserID, ptrTo(db.AgentStatusAWAITINGINPUT), nil, db.MaxPageSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := pageData{Title: inst.AgentTypeName, SignedIn: true, CSRF: ws.csrf, InstanceID: id.String(), UserID: ws.p.UserID.String(),
		Instance: &inst, Messages: messageViews(msgs, inst, time.Now()), CanReply: inst.Status != db.AgentStatusCOMPLETED,
		EventsFrom: from, WaitingCount: len(waiting), WaitingIDs: idList(waiting), Error: errMsg, Draft: draft}
	if len(msgs) > 0 {
		d.AfterSeq = msgs[len(msgs)-1].Seq
	}
	for _, m := range d.Messages {
		d.Asking = d.Asking || (m.Open && m.Request == nil)
	}
	if inst.GitDiff != nil {
		d.Diff = diffFiles(diffLines(*inst.GitDiff))
	}
	s.render(w, r, status, "session", d)
}

// notFound is the page for a session that is not there (or not theirs).
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.render(w, r, http.StatusNotFound, "notfound", pageData{Title: "Not found", SignedIn: true, CSRF: ws.csrf,
		UserID: ws.p.UserID.String()})
}

// baseURL is where agents reach this server: the public URL, else the
// address this request came to.
func (s *Server) baseURL(r *http.Request) string {
	if s.publicOrigin != "" {
		return s.publicOrigin
	}
	scheme := "http"
	if s.forwardedHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func ptrTo[T any](v T) *T { return &v }

// idList is the sessions' ids, space-separated.
func idList(items []db.InstanceInfo) string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID.String()
	}
	return strings.Join(ids, " ")
}

// diffLines classes a diff's lines: file and hunk headers, added and
// removed lines. Inside a hunk, for as many lines as its header counts,
// every line is content, even a removed "-- comment" ("--- comment") or
// an added "++i" ("+++i").
func diffLines(diff string) []diffLine {
	lines := strings.Split(diff, "\n")
	out := make([]diffLine, len(lines))
	olds, news := 0, 0 // the current hunk's lines still to come
	for i, l := range lines {
		c := ""
		switch {
		case olds > 0 || news > 0:
			switch {
			case strings.HasPrefix(l, "+"):
				c, news = "add", news-1
			case strings.HasPrefix(l, "-"):
				c, olds = "del", olds-1
			case strings.HasPrefix(l, "\\"): // \ No newline at end of file
			default:
				olds, news = olds-1, news-1
			}
		case strings.HasPrefix(l, "@@"):
			c = "hunk"
			olds, news = hunkCounts(l)
		case strings.HasPrefix(l, "diff --git"), strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			c = "file"
		case strings.HasPrefix(l, "+"):
			c = "add"
		case strings.HasPrefix(l, "-"):
			c = "del"
		}
		out[i] = diffLine{Class: c, Text: l}
	}
	return out
}

// hunkCounts reads a hunk header ("@@ -1,3 +1,4 @@"): how many old and
// new lines follow. Zero for what it cannot read.
func hunkCounts(header string) (olds, news int) {
	f := strings.Fields(header)
	if len(f) < 3 {
		return 0, 0
	}
	count := func(r, sign string) int {
		r, ok := strings.CutPrefix(r, sign)
		if !ok {
			return 0
		}
		_, n, found := strings.Cut(r, ",")
		if !found {
			return 1
		}
		v, _ := strconv.Atoi(n)
		return v
	}
	return count(f[1], "-"), count(f[2], "+")
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.renderKeys(w, r, ws, http.StatusOK, "", "")
}

func (s *Server) renderKeys(w http.ResponseWriter, r *http.Request, ws webSession, status int, newToken, errMsg string) {
	keys, err := s.store.ListAPIKeys(r.Context(), ws.p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.render(w, r, status, "keys", pageData{Title: "API keys", SignedIn: true, CSRF: ws.csrf, Keys: keys, UserID: ws.p.UserID.String(),
		NewToken: newToken, Error: errMsg})
}

// createKeyForm mints an agent key; the rules (name, lifetime) are
// auth.IssueToken's, and a broken one shows the page again with its message.
func (s *Server) createKeyForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	req := auth.KeyRequest{Issuer: ws.p, Name: r.PostFormValue("name"), Scope: auth.ScopeAgent}
	if v := r.PostFormValue("expires_in_days"); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil {
			s.renderKeys(w, r, ws, http.StatusUnprocessableEntity, "", "Pick an expiry from the list.")
			return
		}
		req.ExpiresInDays = &days
	}
	k, err := s.createKey(r.Context(), req)
	if re, ok := err.(*requestError); ok && re.status == http.StatusUnprocessableEntity {
		s.renderKeys(w, r, ws, re.status, "", re.detail)
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderKeys(w, r, ws, http.StatusCreated, k.token, "")
}

func (s *Server) revokeKeyForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeProblem(w, http.StatusNotFound, "no such key")
		return
	}
	if _, err := s.revokeKey(r.Context(), instanceRef{ws.p.UserID, id}); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
}

// staticFiles serves the page's files, and nothing else: no directory
// listings, and a problem+json 404 for what is not a file.
// rootFile serves one embedded file at a path of its own, revalidated on
// every load (a new service worker or manifest takes effect at once).
func rootFile(fsys fs.FS, name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			writeProblem(w, http.StatusNotFound, "no such file: "+r.URL.Path)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	}
}

func staticFiles(fsys fs.FS) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() || !fs.ValidPath(name) {
			writeProblem(w, http.StatusNotFound, "no such file: "+r.URL.Path)
			return
		}
		http.ServeFileFS(w, r, fsys, name)
	}
}
