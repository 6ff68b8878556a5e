package db_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// RecentMessages is the end of a conversation, oldest first; another
// user's or an unknown instance is not found, an empty one is empty.
func TestRecentMessages(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	var all []string
	for i := range 7 {
		c := fmt.Sprintf("m%d", i)
		if i%3 == 2 {
			e.person(inst, c, false)
		} else {
			e.agent(inst, c, false)
		}
		all = append(all, c)
	}
	// A second conversation of the same user stays out of it.
	e.agent(uuid.New(), "elsewhere", false)

	got, err := e.s.RecentMessages(e.ctx, e.user, inst, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, "last 3", got, all[4:]...)
	got, err = e.s.RecentMessages(e.ctx, e.user, inst, db.MaxRecentMessages)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, "all", got, all...)
	// The same as paging through from the start.
	paged, _, err := e.s.ListMessages(e.ctx, e.user, inst, 0, db.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(paged) != len(got) {
		t.Fatalf("%d recent messages, %d paged", len(got), len(paged))
	}
	for i := range paged {
		if paged[i].ID != got[i].ID || paged[i].Seq != got[i].Seq {
			t.Fatalf("message %d: %v, paged %v", i, got[i], paged[i])
		}
	}

	empty, err := e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{UserID: e.user, AgentType: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.RecentMessages(e.ctx, e.user, empty.ID, 5); err != nil || len(got) != 0 {
		t.Fatalf("an empty conversation: %v, %v", got, err)
	}

	other := dbtest.User(t, e.s)
	_, err = e.s.RecentMessages(e.ctx, other, inst, 5)
	wantCode(t, err, db.ENotFound, "Agent instance not found")
	_, err = e.s.RecentMessages(e.ctx, other, empty.ID, 5)
	wantCode(t, err, db.ENotFound, "Agent instance not found")
	_, err = e.s.RecentMessages(e.ctx, e.user, uuid.New(), 5)
	wantCode(t, err, db.ENotFound, "Agent instance not found")
	for _, limit := range []int{0, -1, db.MaxRecentMessages + 1} {
		_, err = e.s.RecentMessages(e.ctx, e.user, inst, limit)
		wantCode(t, err, db.EInvalid, "")
	}
}
