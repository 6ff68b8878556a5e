// Package client is a Go client of handoff's REST API: the agent side
// (messages, questions and their answers, ending a session) and the
// person's side (sessions, conversations, answering).
//
// Writes carry an Idempotency-Key, so the client retries them on 5xx, 429
// and network errors without ever sending a message twice. Every call
// honours its context; waiting for an answer is a long poll, not polling.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one handoff server with one token.
type Client struct {
	base  string
	token string
	http  *http.Client
	// Retries is how many times a failed request is tried again (5xx, 429,
	// network errors). Default 4.
	Retries int
	// Backoff is the first wait between tries; it doubles, up to 5 s.
	Backoff time.Duration
}

// New returns a client of the server at baseURL (e.g. http://127.0.0.1:8080)
// using token as its bearer token. httpClient nil: a default one.
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: httpClient, Retries: 4, Backoff: 200 * time.Millisecond}
}

// APIError is a non-2xx answer of the server.
type APIError struct {
	Status int
	Detail string
}

func (e *APIError) Error() string { return fmt.Sprintf("handoff: %d %s", e.Status, e.Detail) }

// IsStatus reports whether err is an APIError with the status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// NewKey returns a random idempotency key.
func NewKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// do sends a request (retrying as documented) and decodes a 2xx JSON
// answer into out.
func (c *Client) do(ctx context.Context, method, path string, body any, idemKey string, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	wait := c.Backoff
	for try := 0; ; try++ {
		retryAfter, err := c.once(ctx, method, path, payload, idemKey, out)
		if err == nil || try >= c.Retries || !retryable(err) {
			return err
		}
		d := wait
		if retryAfter > 0 {
			d = retryAfter
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (c *Client) once(ctx context.Context, method, path string, payload []byte, idemKey string, out any) (time.Duration, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "handoff-go-client")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	if res.StatusCode/100 != 2 {
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(b, &p) != nil || p.Detail == "" {
			p.Detail = strings.TrimSpace(string(b))
		}
		var ra time.Duration
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil {
			ra = time.Duration(s) * time.Second
		}
		return ra, &APIError{Status: res.StatusCode, Detail: p.Detail}
	}
	if out == nil {
		return 0, nil
	}
	return 0, json.Unmarshal(b, out)
}

// Message is a message as the agent API returns it (Omnara's shape).
type Message struct {
	ID                string `json:"id"`
	Content           string `json:"content"`
	SenderType        string `json:"sender_type"`
	CreatedAt         string `json:"created_at"`
	RequiresUserInput bool   `json:"requires_user_input"`
}

// SendParams is an agent's message. InstanceID empty: a new session (then
// AgentType is needed). IdempotencyKey empty: one is made, so retries of
// this call are safe.
type SendParams struct {
	InstanceID        string          `json:"agent_instance_id"`
	AgentType         string          `json:"agent_type,omitempty"`
	Content           string          `json:"content"`
	RequiresUserInput bool            `json:"requires_user_input"`
	GitDiff           *string         `json:"git_diff,omitempty"`
	Metadata          json.RawMessage `json:"message_metadata,omitempty"`
	// Options: a question's choices (labels) the person can pick.
	Options        []string `json:"options,omitempty"`
	IdempotencyKey string   `json:"-"`
}

// SendResult is a sent message and the person's messages it collected.
type SendResult struct {
	Success            bool      `json:"success"`
	InstanceID         string    `json:"agent_instance_id"`
	MessageID          string    `json:"message_id"`
	QueuedUserMessages []Message `json:"queued_user_messages"`
}

// Send posts an agent message (POST /api/v1/messages/agent).
func (c *Client) Send(ctx context.Context, p SendParams) (*SendResult, error) {
	if p.InstanceID == "" {
		p.InstanceID = newUUID()
	}
	key := p.IdempotencyKey
	if key == "" {
		key = NewKey()
	}
	var out SendResult
	return &out, c.do(ctx, "POST", "/api/v1/messages/agent", p, key, &out)
}

// Pending is the answer of GET /api/v1/messages/pending.
type Pending struct {
	InstanceID string    `json:"agent_instance_id"`
	Messages   []Message `json:"messages"`
	Status     string    `json:"status"`
}

// Pending reads the person's unread messages after lastRead (consuming
// them; "" only reads), holding the request open up to wait (0 to 60 s)
// while there are none.
func (c *Client) Pending(ctx context.Context, instanceID, lastRead string, wait time.Duration) (*Pending, error) {
	q := url.Values{"agent_instance_id": {instanceID}, "last_read_message_id": {lastRead}}
	if wait > 0 {
		q.Set("wait", strconv.FormatFloat(min(wait, time.Minute).Seconds(), 'f', 3, 64))
	}
	var out Pending
	return &out, c.do(ctx, "GET", "/api/v1/messages/pending?"+q.Encode(), nil, "", &out)
}

// Outcomes of waiting for an answer.
var (
	// ErrStale: someone else read the answer (the agent moved on).
	ErrStale = errors.New("handoff: another reader took the messages")
	// ErrSessionEnded: the session ended before an answer came.
	ErrSessionEnded = errors.New("handoff: the session ended")
)

// WaitForAnswer waits, with long polls, for the person's answer to the
// question questionID: the first of the messages after it. It returns when
// answered, when ctx ends (its error), or with ErrStale or ErrSessionEnded.
func (c *Client) WaitForAnswer(ctx context.Context, instanceID, questionID string) (string, error) {
	for {
		p, err := c.Pending(ctx, instanceID, questionID, time.Minute)
		if err != nil {
			return "", err
		}
		if len(p.Messages) > 0 {
			return p.Messages[0].Content, nil
		}
		if p.Status == "stale" {
			return "", ErrStale
		}
		inst, err := c.Instance(ctx, instanceID)
		if err != nil {
			return "", err
		}
		if inst.Status == "COMPLETED" {
			return "", ErrSessionEnded
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
}

// Ask sends a question and waits for its answer.
func (c *Client) Ask(ctx context.Context, p SendParams) (answer string, sent *SendResult, err error) {
	p.RequiresUserInput = true
	sent, err = c.Send(ctx, p)
	if err != nil {
		return "", nil, err
	}
	answer, err = c.WaitForAnswer(ctx, sent.InstanceID, sent.MessageID)
	return answer, sent, err
}

// EndResult is an ended session.
type EndResult struct {
	Success     bool   `json:"success"`
	InstanceID  string `json:"agent_instance_id"`
	FinalStatus string `json:"final_status"`
}

// End ends a session (POST /api/v1/sessions/end).
func (c *Client) End(ctx context.Context, instanceID string) (*EndResult, error) {
	var out EndResult
	return &out, c.do(ctx, "POST", "/api/v1/sessions/end", map[string]string{"agent_instance_id": instanceID}, NewKey(), &out)
}

// Question is an open question of a session.
type Question struct {
	ID        string    `json:"id"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// Instance is a session as the person's API shows it.
type Instance struct {
	ID               string          `json:"id"`
	AgentType        string          `json:"agent_type"`
	AgentTypeID      string          `json:"agent_type_id"`
	Name             *string         `json:"name"`
	Status           string          `json:"status"`
	StartedAt        time.Time       `json:"started_at"`
	EndedAt          *time.Time      `json:"ended_at"`
	LastActivityAt   time.Time       `json:"last_activity_at"`
	LastHeartbeatAt  *time.Time      `json:"last_heartbeat_at"`
	InstanceMetadata json.RawMessage `json:"instance_metadata"`
	OpenQuestion     *Question       `json:"open_question"`
	GitDiff          *string         `json:"git_diff,omitempty"`
	// PermissionRules: what the person allowed for the rest of the session.
	PermissionRules []string `json:"permission_rules"`
}

// Instance reads one session.
func (c *Client) Instance(ctx context.Context, id string) (*Instance, error) {
	var out Instance
	return &out, c.do(ctx, "GET", "/api/v1/agent-instances/"+url.PathEscape(id), nil, "", &out)
}

// InstancePage is a page of sessions; NextCursor "" is the last page.
type InstancePage struct {
	Instances  []Instance `json:"agent_instances"`
	NextCursor *string    `json:"next_cursor"`
}

// Instances lists the user's sessions (a user token), newest activity
// first; status "" means all; cursor "" the first page.
func (c *Client) Instances(ctx context.Context, status, cursor string, limit int) (*InstancePage, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out InstancePage
	return &out, c.do(ctx, "GET", "/api/v1/agent-instances?"+q.Encode(), nil, "", &out)
}

// Answer posts the person's message to a session (a user token): it wakes
// the waiting agent.
func (c *Client) Answer(ctx context.Context, instanceID, content string) (messageID string, err error) {
	var out struct {
		ID string `json:"id"`
	}
	err = c.do(ctx, "POST", "/api/v1/agent-instances/"+url.PathEscape(instanceID)+"/messages",
		map[string]string{"content": content}, NewKey(), &out)
	return out.ID, err
}

// Decision is what became of a permission request.
type Decision struct {
	Outcome string `json:"outcome"` // allow, allow_session, deny, auto_allow, expired
	Message string `json:"message,omitempty"`
	Rule    string `json:"rule,omitempty"`
}

// Choice is the person's answer to one question: what it chose and, for
// a permission request, decided (Late: after the request expired; not
// applied).
type Choice struct {
	ID          string    `json:"id"`
	Answered    bool      `json:"answered"`
	QuestionID  *string   `json:"question_id"`
	OptionIndex *int      `json:"option_index"`
	Decision    *Decision `json:"decision"`
	Late        bool      `json:"late"`
}

// Choose answers a question as the person (a user token): option
// optionIndex of its options (-1: none, content is the answer). For a
// permission request the options are allow once (0), allow for the
// session (1) and deny (2, with content as the reason).
func (c *Client) Choose(ctx context.Context, instanceID, questionID string, optionIndex int, content string) (*Choice, error) {
	body := map[string]any{"question_id": questionID}
	if optionIndex >= 0 {
		body["option_index"] = optionIndex
	}
	if content != "" {
		body["content"] = content
	}
	var out Choice
	return &out, c.do(ctx, "POST", "/api/v1/agent-instances/"+url.PathEscape(instanceID)+"/messages", body, NewKey(), &out)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AnswerState is the state of a question (GET /api/v1/questions/{id}/answer).
type AnswerState struct {
	QuestionID string  `json:"question_id"`
	InstanceID string  `json:"agent_instance_id"`
	Status     string  `json:"status"` // answered, pending, session_ended
	Answer     *string `json:"answer"`
	// OptionIndex: the question's option the answer chose (nil: free text).
	OptionIndex *int `json:"option_index"`
}

// QuestionAnswer reads the state of a question, holding a pending one open
// up to wait (0 to 60 s).
func (c *Client) QuestionAnswer(ctx context.Context, questionID string, wait time.Duration) (*AnswerState, error) {
	q := ""
	if wait > 0 {
		q = "?wait=" + strconv.FormatFloat(min(wait, time.Minute).Seconds(), 'f', 3, 64)
	}
	var out AnswerState
	return &out, c.do(ctx, "GET", "/api/v1/questions/"+url.PathEscape(questionID)+"/answer"+q, nil, "", &out)
}
