package httpapi

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
)

// msgView is a message as the page shows it.
type msgView struct {
	db.Message
	// Text is the content without Omnara's options block (the options
	// are buttons); HTML is it rendered (Markdown, made safe).
	Text string
	HTML template.HTML
	// Open: a question or permission request that waits for the person:
	// it gets buttons (Options, or Request's allow/deny).
	Open    bool
	Request *requestView
	// Decision: the person's answer to a permission request.
	Decision bool
	// Decided: what became of a permission request; DecisionClass its
	// tone (ok, bad, off).
	Decided, DecisionClass string
}

// requestView is what a permission request asks, shown so the person
// knows what they allow: the full command, or the edit as a diff.
type requestView struct {
	Tool, Command, Description, File string
	Diff                             []diffLine
	// Input: any other tool's input, as indented JSON.
	Input string
	// What: the words of "allow … for this session".
	What string
}

// messageViews turns a conversation's messages into what the page shows.
func messageViews(msgs []db.Message, inst db.InstanceInfo, now time.Time) []msgView {
	// The ordinary question that waits, as the store tells it: the latest
	// one, while nothing but requests, decisions, hook records and answers
	// to other questions follows it.
	openQ := -1
	for i, m := range msgs {
		switch {
		case m.RequiresUserInput && m.Kind == nil && m.SenderType == db.SenderTypeAGENT:
			openQ = i
		case openQ >= 0 && m.Kind == nil && (m.ReplyTo == nil || *m.ReplyTo == msgs[openQ].ID):
			openQ = -1
		}
	}
	out := make([]msgView, len(msgs))
	for i, m := range msgs {
		v := msgView{Message: m, Text: m.Content, Decision: m.Kind != nil && *m.Kind == db.KindDecision}
		if len(m.Options) > 0 {
			v.Text, _ = db.SplitOptions(m.Content)
		}
		v.HTML = renderMarkdown(v.Text)
		switch {
		case m.Kind != nil && *m.Kind == db.KindPermission:
			v.Request = requestOf(m)
			v.Decided, v.DecisionClass = decisionText(db.ParseDecision(m.Decision))
			v.Open = m.Decision == nil && m.ExpiresAt != nil && m.ExpiresAt.After(now) && inst.Status != db.AgentStatusCOMPLETED
			if m.Decision == nil && !v.Open {
				v.Decided, v.DecisionClass = "Not decided in time: the agent asked at its terminal.", "off"
			}
		case m.RequiresUserInput:
			v.Open = i == openQ && inst.Status == db.AgentStatusAWAITINGINPUT
		}
		out[i] = v
	}
	return out
}

func requestOf(m db.Message) *requestView {
	p := db.ParsePermission(m.Permission)
	if p == nil {
		return &requestView{Tool: "a tool"}
	}
	var in map[string]any
	_ = json.Unmarshal(p.ToolInput, &in)
	str := func(k string) string { s, _ := in[k].(string); return s }
	r := &requestView{Tool: p.ToolName, What: p.ToolName}
	if first, ok := strings.CutPrefix(p.Rule, "Bash("); ok {
		r.What = strings.TrimSuffix(first, ":*)")
	}
	switch {
	case str("command") != "":
		r.Command, r.Description = str("command"), str("description")
	case str("file_path") != "":
		r.File = str("file_path")
		if old := str("old_string"); old != "" {
			for _, l := range strings.Split(old, "\n") {
				r.Diff = append(r.Diff, diffLine{Class: "del", Text: "-" + l})
			}
		}
		for _, l := range strings.Split(str("new_string")+str("content"), "\n") {
			r.Diff = append(r.Diff, diffLine{Class: "add", Text: "+" + l})
		}
	case len(in) > 0:
		b, _ := json.MarshalIndent(in, "", "  ")
		r.Input = string(b)
	}
	return r
}

// decisionText says what became of a request, and its tone.
func decisionText(d *db.Decision) (string, string) {
	if d == nil {
		return "", ""
	}
	var text, class string
	switch d.Outcome {
	case db.OutcomeAllow:
		text, class = "Allowed once.", "ok"
	case db.OutcomeAllowSession:
		text, class = "Allowed for this session: "+d.Rule+".", "ok"
	case db.OutcomeAutoAllow:
		text, class = "Allowed at once by your session rule "+d.Rule+".", "ok"
	case db.OutcomeDeny:
		text, class = "Denied.", "bad"
		if d.Message != "" && d.Message != db.DeniedMessage {
			text = "Denied: " + d.Message
		}
	default:
		text, class = "Not decided in time: the agent asked at its terminal.", "off"
	}
	if d.Late != nil {
		late, _ := decisionText(d.Late)
		text += " Your later answer (" + strings.TrimSuffix(late, ".") + ") came too late and was not applied."
	}
	return text, class
}

// POST /sessions/{id}/reply: the person's message; question_id and
// option_index come from a question's buttons, which send no words. A
// request's deny form is its own (Enter in its reason box denies) and
// sends the reason.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, ws webSession) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeProblem(w, http.StatusNotFound, "no such session")
		return
	}
	p := db.CreateUserMessageParams{UserID: ws.p.UserID, InstanceID: id, Content: r.PostFormValue("content")}
	if raw := r.PostFormValue("question_id"); raw != "" {
		q, err := uuid.Parse(raw)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "question_id must be a UUID")
			return
		}
		p.ReplyTo = &q
	}
	if raw := r.PostFormValue("option_index"); raw != "" {
		i, err := strconv.Atoi(raw)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "option_index must be a number")
			return
		}
		p.OptionIndex = &i
		if r.PostFormValue("reason") == "" {
			p.Content = "" // a button: its option, no words
		}
	}
	if _, err = s.store.CreateUserMessage(r.Context(), p); err != nil {
		// The page again, saying what went wrong, with the reply kept.
		status, msg := http.StatusInternalServerError, "Your reply could not be sent; try again."
		switch db.ErrorCode(err) {
		case db.EInvalid:
			status, msg = http.StatusUnprocessableEntity, db.ErrorMessage(err)
		case db.EConflict:
			status, msg = http.StatusConflict, db.ErrorMessage(err)
		case db.ENotFound:
			s.notFound(w, r, ws)
			return
		case db.EUnavailable:
			status = http.StatusServiceUnavailable
		default:
			s.log.ErrorContext(r.Context(), "reply", "err", err)
		}
		s.renderSession(w, r, ws, status, msg, r.PostFormValue("content"))
		return
	}
	http.Redirect(w, r, "/sessions/"+id.String(), http.StatusSeeOther)
}
