package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/handoffhq/handoff/auth"
)

// answerConfirm makes the page's window.confirm answer yes or no (and
// note that it was asked) in every document loaded from now on.
func answerConfirm(yes bool) chromedp.Action[chromedp.Void] {
	return onNewDocument(fmt.Sprintf("window.confirm = function () { window.asked = true; return %v; };", yes))
}

// onNewDocument runs script in every document loaded from now on, before
// the page's own scripts.
func onNewDocument(script string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return chromedp.Void{}, err
	}
}

// A sign-in link for another account does not silently replace the
// account a page is signed in to: the page asks, keeps the account when
// the person declines, and switches when they accept. A link for the same
// account asks nothing.
func TestBrowserSigninLinkAsksBeforeSwitching(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	alice := a.tokenFor(a.user, auth.ScopeUser)
	bobID, _ := a.newUser()
	bob, bob2 := a.tokenFor(bobID, auth.ScopeUser), a.tokenFor(bobID, auth.ScopeUser)

	ctx, run := newBrowser(t, exe, 390, 844)
	signedInAs := func() string {
		t.Helper()
		u, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.user || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	asked := func() bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.asked === true`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	run("sign in as alice", chromedp.Navigate(a.ts.URL+"/#token="+alice), chromedp.WaitVisible(`//h1[text()="Sessions"]`))
	if got := signedInAs(); got != a.user.String() {
		t.Fatalf("signed in as %q, want alice", got)
	}

	// Each link opens another path than the page before: a change of the
	// fragment alone would not load the page again.
	run("decline bob's link", answerConfirm(false), chromedp.Navigate(a.ts.URL+"/keys#token="+bob),
		chromedp.WaitVisible(`//h1[text()="API keys"]`))
	if !asked() || signedInAs() != a.user.String() {
		t.Fatalf("declined: asked %v, signed in as %s (want alice)", asked(), signedInAs())
	}

	run("accept bob's link", answerConfirm(true), chromedp.Navigate(a.ts.URL+"/#token="+bob),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`))
	if got := signedInAs(); got != bobID.String() {
		t.Fatalf("accepted: signed in as %s, want bob", got)
	}

	run("bob's other link", chromedp.Navigate(a.ts.URL+"/keys#token="+bob2), chromedp.WaitVisible(`//h1[text()="API keys"]`))
	if asked() || signedInAs() != bobID.String() {
		t.Fatalf("a link for the same account: asked %v, signed in as %s", asked(), signedInAs())
	}
}
