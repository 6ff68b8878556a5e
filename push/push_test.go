package push_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/push"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// received is one push the loopback push service got, and its answer.
type received struct {
	header http.Header
	body   []byte
	status int
}

// pushService is a loopback push service answering with the given
// statuses in turn (then 201). It records each push as it answers it, in
// the order it accepts them.
type pushService struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	held     *held
	got      chan received
}

// held is a push that waits for release before it is answered.
type held struct{ arrived, release chan struct{} }

func newPushService(t *testing.T) *pushService {
	ps := &pushService{got: make(chan received, 10)}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ps.mu.Lock()
		status := http.StatusCreated
		if len(ps.statuses) > 0 {
			status, ps.statuses = ps.statuses[0], ps.statuses[1:]
		}
		h := ps.held
		ps.held = nil
		ps.mu.Unlock()
		if h != nil {
			close(h.arrived)
			<-h.release
		}
		ps.got <- received{r.Header.Clone(), b, status}
		w.WriteHeader(status)
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *pushService) answer(statuses ...int) {
	ps.mu.Lock()
	ps.statuses = append(ps.statuses, statuses...)
	ps.mu.Unlock()
}

// hold makes the next push wait, unanswered, until release is called:
// arrived is closed once it is there (its answer is the next status).
func (ps *pushService) hold(t *testing.T) (arrived <-chan struct{}, release func()) {
	h := &held{arrived: make(chan struct{}), release: make(chan struct{})}
	ps.mu.Lock()
	ps.held = h
	ps.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(release) // before the server closes: it waits for the push
	return h.arrived, release
}

func (ps *pushService) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-ps.got:
		return r
	case <-time.After(time.Minute):
		t.Fatal("no push arrived")
	}
	return received{}
}

// rest is every push answered so far and not yet read.
func (ps *pushService) rest() []received {
	var out []received
	for {
		select {
		case r := <-ps.got:
			out = append(out, r)
		default:
			return out
		}
	}
}

// device is a browser's side of a subscription, with keys the test made.
type device struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newDevice(t *testing.T) device {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return device{k, auth}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decrypt opens an aes128gcm push message (RFC 8291 §3, RFC 8188).
func (d device) decrypt(t *testing.T, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("push body of %d bytes", len(body))
	}
	salt, idlen := body[:16], int(body[20])
	serverPub, ct := body[21:21+idlen], body[21+idlen:]
	if rs := binary.BigEndian.Uint32(body[16:20]); rs < 18 {
		t.Fatalf("record size %d", rs)
	}
	pub, err := ecdh.P256().NewPublicKey(serverPub)
	if err != nil {
		t.Fatalf("the key id is not the server's P-256 key: %v", err)
	}
	secret, err := d.key.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	info := append(append([]byte("WebPush: info\x00"), d.key.PublicKey().Bytes()...), serverPub...)
	prkKey, _ := hkdf.Extract(sha256.New, secret, d.auth)
	ikm, _ := hkdf.Expand(sha256.New, prkKey, string(info), 32)
	prk, _ := hkdf.Extract(sha256.New, ikm, salt)
	cek, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		t.Fatalf("the push does not decrypt with the device's keys: %v", err)
	}
	plain = []byte(strings.TrimRight(string(plain), "\x00"))
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		t.Fatal("no last-record delimiter")
	}
	return plain[:len(plain)-1]
}

// payload decrypts a push and reads it.
func (d device) payload(t *testing.T, r received) db.PushPayload {
	t.Helper()
	var p db.PushPayload
	if err := json.Unmarshal(d.decrypt(t, r.body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// pushes lists pushes as the device sees them: type and the push
// service's answer, in order.
func (d device) pushes(t *testing.T, rs []received) string {
	t.Helper()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s %d", d.payload(t, r).Type, r.status)
	}
	return strings.Join(out, ", ")
}

// wait waits for a signal on c (or for c to close).
func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(time.Minute):
		t.Fatal(what)
	}
}

type env struct {
	store *db.Store
	pool  *pgxpool.Pool
	hub   *db.Hub
	user  uuid.UUID
	jobs  *river.Client[pgx.Tx]
	done  <-chan *river.Event
}

func newEnv(t *testing.T) *env {
	t.Parallel()
	pool := dbtest.Pool(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, push.NewWorker(push.Config{Store: db.NewStore(pool), Contact: "ops@handoff.test",
		AllowPrivate: true, RetryBase: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}))
	db.AddWorkers(workers, db.NewStore(pool))
	jobs := dbtest.RunJobs(t, pool, workers)
	// No job is queued before the test asks: nothing ends unseen.
	done, cancel := jobs.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled)
	t.Cleanup(cancel)
	// The push service is on loopback: this store lets subscriptions name it.
	hub := dbtest.Hub(t, pool)
	store := db.NewStore(pool, db.WithHub(hub), db.WithJobs(jobs), db.WithWebhookPolicy(true))
	return &env{store: store, pool: pool, hub: hub, user: dbtest.User(t, store), jobs: jobs, done: done}
}

// finished waits for push jobs to the device to end (completed, or
// cancelled: never retried), one of each payload type listed.
func (e *env) finished(t *testing.T, sub uuid.UUID, types ...string) {
	t.Helper()
	for len(types) > 0 {
		select {
		case ev := <-e.done:
			var a db.DeliverPushArgs
			var p db.PushPayload
			if json.Unmarshal(ev.Job.EncodedArgs, &a) != nil || json.Unmarshal(a.Payload, &p) != nil || a.SubscriptionID != sub {
				continue
			}
			if i := slices.Index(types, p.Type); i >= 0 {
				types = slices.Delete(types, i, i+1)
			}
		case <-time.After(time.Minute):
			t.Fatalf("push jobs %v did not finish", types)
		}
	}
}

// ask sends an agent's question on inst and returns its id.
func (e *env) ask(t *testing.T, inst uuid.UUID, content string) uuid.UUID {
	t.Helper()
	q, err := e.store.SendAgentMessage(context.Background(), db.SendAgentMessageParams{UserID: e.user, InstanceID: inst,
		AgentType: "x", Content: content, RequiresUserInput: true})
	if err != nil {
		t.Fatal(err)
	}
	return q.MessageID
}

// answer sends the person's answer on inst.
func (e *env) answer(t *testing.T, inst uuid.UUID) {
	t.Helper()
	if _, err := e.store.CreateUserMessage(context.Background(), db.CreateUserMessageParams{UserID: e.user,
		InstanceID: inst, Content: "Yes"}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) subscribe(t *testing.T, ps *pushService, d device) db.PushSubscription {
	t.Helper()
	sub, err := e.store.AddPushSubscription(context.Background(), db.NewPushSubscription{UserID: e.user,
		Endpoint: ps.URL + "/push/" + uuid.NewString(), P256dh: b64(d.key.PublicKey().Bytes()), Auth: b64(d.auth), Name: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// verifyVAPID checks the Authorization header: an ES256 JWT for the push
// service's origin, signed with the server's VAPID key, which it names.
func verifyVAPID(t *testing.T, e *env, h http.Header, origin string) {
	t.Helper()
	_, public, err := e.store.VAPIDKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	auth := h.Get("Authorization")
	tok, k, ok := strings.Cut(strings.TrimPrefix(auth, "vapid t="), ", k=")
	if !ok || !strings.HasPrefix(auth, "vapid t=") || k != public {
		t.Fatalf("Authorization %q (server key %s)", auth, public)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(public)
	x, y := elliptic.Unmarshal(elliptic.P256(), raw) //nolint:staticcheck // an uncompressed point
	key := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Set(x), Y: new(big.Int).Set(y)}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("VAPID token does not verify: %v", err)
	}
	exp, _ := claims.GetExpirationTime()
	if time.Until(exp.Time) > 24*time.Hour || claims["sub"] != "mailto:ops@handoff.test" {
		t.Fatalf("claims %v", claims)
	}
}

// checkTTL checks a push's TTL header (RFC 8030 §5.2): whole seconds, more
// than none, and no more than the question can still be answered in.
func checkTTL(t *testing.T, h http.Header, most time.Duration) {
	t.Helper()
	ttl, err := strconv.Atoi(h.Get("TTL"))
	if err != nil || ttl <= 0 || ttl > int(most.Seconds()) {
		t.Fatalf("TTL %q, want 1 to %d seconds", h.Get("TTL"), int(most.Seconds()))
	}
}

// A question is pushed, encrypted to the device and signed; answering it
// elsewhere sends the push that closes its notification.
func TestQuestionPushedAndWithdrawn(t *testing.T) {
	e := newEnv(t)
	ps := newPushService(t)
	d := newDevice(t)
	e.subscribe(t, ps, d)
	inst := uuid.New()
	q := e.ask(t, inst, "Deploy to production?\n\n[OPTIONS]\n1. Yes\n2. No\n[/OPTIONS]")
	got := ps.next(t)
	h := got.header
	topic := db.PushTopic(q)
	if h.Get("Content-Encoding") != "aes128gcm" || h.Get("Topic") != topic || h.Get("Urgency") != "high" {
		t.Fatalf("headers %v", h)
	}
	// A question's push is kept a day at most.
	checkTTL(t, h, db.MaxPushTTL)
	verifyVAPID(t, e, h, ps.URL)
	var p db.PushPayload
	if err := json.Unmarshal(d.decrypt(t, got.body), &p); err != nil {
		t.Fatal(err)
	}
	if p != (db.PushPayload{Type: db.PushAsk, Title: "A question for you", Body: "Deploy to production?",
		URL: "/sessions/" + inst.String(), Tag: topic}) {
		t.Fatalf("payload %+v", p)
	}
	// Answered elsewhere (the page, another device): withdrawn.
	e.answer(t, inst)
	got = ps.next(t)
	p = db.PushPayload{}
	if err := json.Unmarshal(d.decrypt(t, got.body), &p); err != nil || got.header.Get("Topic") != topic ||
		p.Type != db.PushAnswered || p.Tag != topic {
		t.Fatalf("withdrawal %+v %v (topic %q)", p, err, got.header.Get("Topic"))
	}
}

// answerWhileHeld asks a question whose first push the push service holds
// unanswered, answers the question meanwhile, reads its withdrawal, and
// lets the held push be answered.
func (e *env) answerWhileHeld(t *testing.T, ps *pushService, d device) {
	t.Helper()
	arrived, release := ps.hold(t)
	inst := uuid.New()
	q := e.ask(t, inst, "Deploy?")
	wait(t, arrived, "no push arrived") // the ask's first attempt is at the push service
	e.answer(t, inst)
	if p := d.payload(t, ps.next(t)); p.Type != db.PushAnswered || p.Tag != db.PushTopic(q) {
		t.Fatalf("withdrawal %+v", p)
	}
	release()
}

// A question answered while its push is on its way is not left showing.
// A push the push service failed is retried; but not once the question
// is answered: its withdrawal went out already, and the retry, with the
// same Topic, would bring the notification back. A push accepted after
// the withdrawal is withdrawn again, after it.
func TestAskAnsweredOnItsWay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int      // the push service's answer to the held ask
		jobs   []string // the push jobs that end
		after  string   // the pushes after the first withdrawal
	}{
		{"retried", http.StatusServiceUnavailable, []string{db.PushAsk}, "ask 503"},
		{"accepted", http.StatusCreated, []string{db.PushAsk, db.PushAnswered, db.PushAnswered}, "ask 201, answered 201"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ps := newPushService(t)
			d := newDevice(t)
			sub := e.subscribe(t, ps, d)
			ps.answer(tc.status)
			e.answerWhileHeld(t, ps, d)
			e.finished(t, sub.ID, tc.jobs...)
			if got := d.pushes(t, ps.rest()); got != tc.after {
				t.Fatalf("after the withdrawal: %s, want %s", got, tc.after)
			}
		})
	}
}

// A permission request is pushed for no longer than it waits, and its
// expiry withdraws it.
func TestPermissionRequestPushed(t *testing.T) {
	e := newEnv(t)
	ps := newPushService(t)
	d := newDevice(t)
	e.subscribe(t, ps, d)
	ctx, cancel := context.WithCancel(context.Background())
	inst := uuid.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.store.RequestPermission(ctx, db.RequestPermissionParams{UserID: e.user, InstanceID: inst, AgentType: "x",
			ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"make deploy"}`)}, time.Now().Add(2*time.Minute))
	}()
	got := ps.next(t)
	var p db.PushPayload
	if err := json.Unmarshal(d.decrypt(t, got.body), &p); err != nil || p.Title != "Permission request" ||
		!strings.Contains(p.Body, "make deploy") {
		t.Fatalf("payload %+v %v", p, err)
	}
	// No longer than the request waits.
	checkTTL(t, got.header, 2*time.Minute)
	cancel() // the agent stops waiting: the request expires
	<-done
	got = ps.next(t)
	p = db.PushPayload{}
	if err := json.Unmarshal(d.decrypt(t, got.body), &p); err != nil || p.Type != db.PushAnswered {
		t.Fatalf("withdrawal %+v %v", p, err)
	}
}

// requested is a permission request's end as its waiter saw it.
type requested struct {
	res db.PermissionResult
	err error
}

// requestOn asks permission for "make deploy" on inst through s (a server
// other than the env's), waiting until deadline; it returns once the
// request is open, with its id and what its waiter will get.
func (e *env) requestOn(t *testing.T, s *db.Store, inst uuid.UUID, deadline time.Time) (uuid.UUID, <-chan requested) {
	t.Helper()
	ctx := context.Background()
	sub, err := e.store.Watch(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	out := make(chan requested, 1)
	go func() {
		res, err := s.RequestPermission(ctx, db.RequestPermissionParams{UserID: e.user, InstanceID: inst, AgentType: "x",
			ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"make deploy"}`)}, deadline)
		out <- requested{res, err}
	}()
	var open []db.Message
	for len(open) == 0 {
		wait(t, sub.C, "the permission request did not open")
		if open, err = e.store.OpenPermissionRequests(ctx, e.user, inst); err != nil {
			t.Fatal(err)
		}
	}
	return open[0].ID, out
}

// A permission request whose waiter died (here: its server lost its
// database, then never came back) is expired at its deadline all the
// same, by the job its opening scheduled: the device's notification is
// withdrawn and the session stops awaiting input.
func TestOrphanedPermissionRequestExpires(t *testing.T) {
	e := newEnv(t)
	ps := newPushService(t)
	d := newDevice(t)
	e.subscribe(t, ps, d)
	ctx := context.Background()
	inst := uuid.New()
	expiries, cancel := e.jobs.Subscribe(river.EventKindJobCompleted)
	defer cancel()

	// The dying server: its own connections, the same hub and job queue.
	pool, err := db.NewPool(ctx, e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	dying := db.NewStore(pool, db.WithHub(e.hub), db.WithJobs(e.jobs), db.WithWebhookPolicy(true))
	req, asked := e.requestOn(t, dying, inst, time.Now().Add(3*time.Second))
	pool.Close()
	if r := <-asked; r.err == nil {
		t.Fatal("the waiter expired its request without its database")
	}
	var decision []byte
	if err := e.pool.QueryRow(ctx, `SELECT decision FROM messages WHERE id = $1`, req).Scan(&decision); err != nil || decision != nil {
		t.Fatalf("after the waiter's death the request's decision is %s (%v), want none yet", decision, err)
	}

	// Its expiry job ends it.
	for expired := false; !expired; {
		select {
		case ev := <-expiries:
			var a db.ExpirePermissionArgs
			expired = ev.Job.Kind == (db.ExpirePermissionArgs{}).Kind() && json.Unmarshal(ev.Job.EncodedArgs, &a) == nil && a.RequestID == req
		case <-time.After(time.Minute):
			t.Fatal("the request's expiry job did not run")
		}
	}
	if err := e.pool.QueryRow(ctx, `SELECT decision FROM messages WHERE id = $1`, req).Scan(&decision); err != nil ||
		db.ParseDecision(decision) == nil || db.ParseDecision(decision).Outcome != db.OutcomeExpired {
		t.Fatalf("the request's decision is %s (%v), want expired", decision, err)
	}
	got, err := e.store.GetInstance(ctx, e.user, inst)
	if err != nil || got.Status != db.AgentStatusACTIVE {
		t.Fatalf("the session is %+v (%v), want ACTIVE", got.Status, err)
	}
	// The device is told to close it (after its ask, unless the ask's job
	// ran after the deadline and so showed nothing).
	for {
		p := d.payload(t, ps.next(t))
		if p.Tag != db.PushTopic(req) || (p.Type != db.PushAsk && p.Type != db.PushAnswered) {
			t.Fatalf("push %+v, want the request's ask or withdrawal", p)
		}
		if p.Type == db.PushAnswered {
			break
		}
	}
}

// Ending a session withdraws the notifications of what waits on it: its
// question, and its permission request even when the request's waiter
// does not (here it runs on a server that sends no pushes, as a replica
// that died would not).
func TestSessionEndWithdrawsWhatWaits(t *testing.T) {
	e := newEnv(t)
	ps := newPushService(t)
	d := newDevice(t)
	e.subscribe(t, ps, d)
	ctx := context.Background()
	inst := uuid.New()
	q := e.ask(t, inst, "Deploy?")
	if p := d.payload(t, ps.next(t)); p.Type != db.PushAsk {
		t.Fatalf("ask %+v", p)
	}
	req, asked := e.requestOn(t, db.NewStore(e.pool, db.WithHub(e.hub)), inst, time.Now().Add(2*time.Minute))
	if _, err := e.store.EndSession(ctx, e.user, inst); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{db.PushTopic(q): true, db.PushTopic(req): true}
	for len(want) > 0 {
		got := ps.next(t)
		if p := d.payload(t, got); p.Type != db.PushAnswered || !want[p.Tag] || got.header.Get("Topic") != p.Tag {
			t.Fatalf("withdrawal %+v (topic %q), want one of %v", p, got.header.Get("Topic"), want)
		} else {
			delete(want, p.Tag)
		}
	}
	if r := <-asked; r.err != nil || !r.res.Ended {
		t.Fatalf("the request's waiter: %+v %v", r.res, r.err)
	}
}

// A device its push service calls gone (404 Not Found, 410 Gone: RFC
// 8030 §7.3, and what push services answer for an expired subscription)
// is deleted.
func TestGoneSubscriptionDeleted(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t)
			ps := newPushService(t)
			ps.answer(status)
			sub := e.subscribe(t, ps, newDevice(t))
			e.ask(t, uuid.New(), "Still there?")
			ps.next(t)
			e.finished(t, sub.ID, db.PushAsk) // the job ends after the deletion
			if _, err := e.store.GetPushSubscription(context.Background(), e.user, sub.ID); db.ErrorCode(err) != db.ENotFound {
				t.Fatalf("a subscription answered %d is still there: %v", status, err)
			}
		})
	}
}

// Subscriptions with bad keys or endpoints are refused and write nothing.
func TestBadSubscriptionsRefused(t *testing.T) {
	e := newEnv(t)
	d := newDevice(t)
	good := db.NewPushSubscription{UserID: e.user, Endpoint: "http://127.0.0.1:9/push", P256dh: b64(d.key.PublicKey().Bytes()), Auth: b64(d.auth)}
	for _, tc := range []struct {
		mod func(*db.NewPushSubscription)
		msg string
	}{
		{func(p *db.NewPushSubscription) { p.P256dh = b64([]byte("short")) }, "keys.p256dh must be a P-256 public key"},
		{func(p *db.NewPushSubscription) { p.P256dh = b64(append([]byte{4}, make([]byte, 64)...)) }, "keys.p256dh is not a point on P-256"},
		{func(p *db.NewPushSubscription) { p.Auth = b64(make([]byte, 8)) }, "keys.auth must be 16 bytes"},
		{func(p *db.NewPushSubscription) { p.Endpoint = "ftp://x/push" }, "endpoint:"},
	} {
		p := good
		tc.mod(&p)
		_, err := e.store.AddPushSubscription(context.Background(), p)
		if db.ErrorCode(err) != db.EInvalid || !strings.Contains(db.ErrorMessage(err), tc.msg) {
			t.Errorf("want %q, got %v", tc.msg, err)
		}
	}
	if subs, _ := e.store.ListPushSubscriptions(context.Background(), e.user); len(subs) != 0 {
		t.Fatalf("bad subscriptions stored: %v", subs)
	}
	// Without the operator's leave, a private endpoint is refused too.
	strict := db.NewStore(dbtest.Pool(t))
	if _, err := strict.AddPushSubscription(context.Background(), good); db.ErrorCode(err) != db.EInvalid {
		t.Fatalf("private endpoint: %v", err)
	}
}

// The page's Test button sends the device a sample notification.
func TestTestPush(t *testing.T) {
	e := newEnv(t)
	ps := newPushService(t)
	d := newDevice(t)
	sub := e.subscribe(t, ps, d)
	if err := e.store.TestPush(context.Background(), e.user, sub.ID); err != nil {
		t.Fatal(err)
	}
	var p db.PushPayload
	if err := json.Unmarshal(d.decrypt(t, ps.next(t).body), &p); err != nil || p.Type != db.PushAsk || p.Tag != "test" {
		t.Fatalf("sample %+v %v", p, err)
	}
	if err := e.store.TestPush(context.Background(), e.user, uuid.New()); db.ErrorCode(err) != db.ENotFound {
		t.Fatalf("unknown device: %v", err)
	}
}
