package telegramtest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/dmdoctor/dmdoctor/adapters/telegram/telegramtest"
)

// call makes one API call and returns the decoded answer.
func call(t *testing.T, tg *telegramtest.Server, method string, p url.Values) (ok bool, result json.RawMessage) {
	t.Helper()
	resp, err := http.PostForm(tg.URL+"/bot"+tg.Token+"/"+method, p)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.OK, body.Result
}

func updateIDs(t *testing.T, raw json.RawMessage) []int {
	t.Helper()
	var us []struct {
		ID int `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &us); err != nil {
		t.Fatal(err)
	}
	ids := make([]int, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

// TestUpdatesUntilConfirmed checks the Bot API's delivery rule the crash
// tests rely on: an update comes again until an offset above it.
func TestUpdatesUntilConfirmed(t *testing.T) {
	tg := telegramtest.New(t)
	user := telegramtest.User{ID: 5, First: "U"}
	a := tg.Text(user.ID, user, "one")
	b := tg.Text(user.ID, user, "two")
	poll := func(offset int) []int {
		_, res := call(t, tg, "getUpdates", url.Values{"offset": {strconv.Itoa(offset)}, "timeout": {"0"}})
		return updateIDs(t, res)
	}
	if got := poll(0); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("first poll: %v", got)
	}
	if got := poll(0); len(got) != 2 { // a client that restarted without an offset
		t.Fatalf("poll without offset: %v; want both again", got)
	}
	if got := poll(a + 1); len(got) != 1 || got[0] != b {
		t.Fatalf("poll after confirming %d: %v", a, got)
	}
	if got := poll(0); len(got) != 1 || got[0] != b {
		t.Fatalf("confirmed update handed out again: %v", got)
	}
	if tg.Handed(a) != 2 || tg.Handed(b) != 4 {
		t.Errorf("handed %d and %d times; want 2 and 4", tg.Handed(a), tg.Handed(b))
	}
	if u := tg.Unconfirmed(); len(u) != 1 || u[0] != b {
		t.Errorf("unconfirmed %v", u)
	}
}

// TestHeldCall checks that a call held by Until is answered once released.
func TestHeldCall(t *testing.T) {
	tg := telegramtest.New(t)
	release := make(chan struct{})
	tg.Fail("sendMessage", 1, telegramtest.Fault{Until: release, Match: func(p url.Values) bool { return p.Get("chat_id") == "7" }})
	if ok, _ := call(t, tg, "sendMessage", url.Values{"chat_id": {"8"}, "text": {"not held"}}); !ok {
		t.Fatal("a call the fault does not match failed")
	}
	done := make(chan bool)
	go func() {
		ok, _ := call(t, tg, "sendMessage", url.Values{"chat_id": {"7"}, "text": {"held"}})
		done <- ok
	}()
	tg.WaitFor("the call to be held", func() bool { return tg.Stalled("sendMessage") == 1 })
	if n := len(tg.SentTo(7)); n != 0 {
		t.Fatalf("%d messages sent while held", n)
	}
	close(release)
	if !<-done {
		t.Fatal("the held call failed")
	}
	if s := tg.SentTo(7); len(s) != 1 || s[0].Text != "held" {
		t.Fatalf("sent %v", s)
	}
}
