package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/dmdoctor/dmdoctor/adapters/telegram"
	"github.com/dmdoctor/dmdoctor/adapters/telegram/telegramtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/sqlite"
)

// The crash test runs the real binary against the fake Bot API server
// and kills it with SIGKILL at chosen points: between a stored turn and
// the delivery of its replies (the fake holds sendMessage back), and
// before the offset of the update was confirmed (the fake holds the next
// getUpdates back, so Telegram hands the update out again after the
// restart). Every run uses the same SQLite file.
//
// What the binary sends is compared with what an in-process engine on a
// memory store (the reference, never killed) answers to the same inputs:
// the user must get exactly the reference's replies, once each, in order.

// People and chats of the crash test.
var (
	crashAlice = telegramtest.User{ID: 11, First: "Alice", UserName: "alice"}
	crashBob   = telegramtest.User{ID: 22, First: "Bob"}
	crashMia   = telegramtest.User{ID: 31, First: "Mia", UserName: "mia_mod"} // creator of the moderators' chat
)

const crashModChat int64 = -100500

// buildBinary builds dmdoctor into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "dmdoctor")
	cmd := exec.Command(gocmd, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is one run of the binary.
type proc struct {
	n              int
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	exited         chan struct{}
	err            error // once exited is closed
}

// crashRig runs the binary again and again on one database and one fake
// Bot API server.
type crashRig struct {
	t     *testing.T
	bin   string
	env   []string
	db    string
	tg    *telegramtest.Server
	procs []*proc
}

// start runs the binary and waits until it polls for updates.
func (r *crashRig) start() *proc {
	r.t.Helper()
	p := &proc{n: len(r.procs) + 1, exited: make(chan struct{})}
	p.cmd = exec.Command(r.bin)
	p.cmd.Dir = filepath.Dir(r.db)
	p.cmd.Env = r.env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	polls := len(r.tg.CallsTo("getUpdates"))
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	r.procs = append(r.procs, p)
	r.t.Cleanup(func() { p.kill(r.t) })
	r.tg.WaitFor(fmt.Sprintf("run %d to poll for updates", p.n), func() bool {
		select {
		case <-p.exited:
			r.t.Fatalf("run %d exited at start: %v\n%s", p.n, p.err, p.stderr.String())
		default:
		}
		return len(r.tg.CallsTo("getUpdates")) > polls
	})
	return p
}

// kill ends the run with SIGKILL, as a crash or the OOM killer would.
func (p *proc) kill(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill run %d: %v", p.n, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("run %d did not die", p.n)
	}
}

// stop ends the run with SIGTERM and checks that it shut down cleanly.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM run %d: %v", p.n, err)
	}
	// The binary promises to exit within 10 seconds of SIGTERM.
	select {
	case <-p.exited:
	case <-time.After(shutdownLimit + time.Second):
		t.Fatalf("run %d did not stop within %s of SIGTERM", p.n, shutdownLimit)
	}
	if p.err != nil {
		t.Errorf("run %d ended with %v\n%s", p.n, p.err, p.stderr.String())
	}
}

// logs returns the run's JSON log records, failing on a line that is not
// one.
func (p *proc) logs(t *testing.T) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("run %d: stderr line is not a JSON log record: %q", p.n, sc.Text())
			continue
		}
		recs = append(recs, rec)
	}
	return recs
}

// duplicateLogged reports whether the run's engine dropped message id as
// already handled (so the store, not the fresh process's memory, knew it).
func (p *proc) duplicateLogged(t *testing.T, id string) bool {
	for _, rec := range p.logs(t) {
		if rec["msg"] == "duplicate message" && rec["id"] == id {
			return true
		}
	}
	return false
}

// settle waits until the running binary's outbox holds exactly n
// undelivered replies (the held ones): every reply it sent is marked
// delivered. A kill between Telegram accepting a reply and the mark would
// send that reply again after the restart, which no store can prevent;
// the test kills after the mark. It reads the SQLite file read-only.
func (r *crashRig) settle(n int) {
	r.t.Helper()
	db, err := sql.Open("sqlite", "file:"+r.db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var count int
		if err := db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&count); err != nil {
			r.t.Fatal(err)
		}
		if count == n {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the outbox holds %d replies; want %d", count, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inStore opens the database between runs (no binary running).
func (r *crashRig) inStore(fn func(s *sqlite.Store)) {
	r.t.Helper()
	s, err := sqlite.Open(context.Background(), r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Close()
	fn(s)
}

// expireLeases returns the outbox entries the killed run stored but did
// not deliver. It claims them with a lease already over, so it takes
// nothing from the next run, which (alone on its SQLite file) takes over
// every undelivered reply at start.
func (r *crashRig) expireLeases() []bot.Outgoing {
	r.t.Helper()
	var out []bot.Outgoing
	r.inStore(func(s *sqlite.Store) {
		var err error
		later := time.Now().Add(bot.OutboxLease + time.Second)
		out, err = s.ClaimOutbox(context.Background(), telegram.Channel, later, -bot.OutboxLease-2*time.Second, 0)
		if err != nil {
			r.t.Fatal(err)
		}
	})
	return out
}

// holdNext makes the kill land after the update was taken by getUpdates
// but before its offset was confirmed: the getUpdates call after the one
// that hands the update out is held. It waits for an open long poll
// first (it has passed the fault stage and will hand out the next
// update). The returned func waits until the hold took hold.
func (r *crashRig) holdNext(never <-chan struct{}) func() {
	r.tg.WaitFor("an open long poll", func() bool { return r.tg.Polling() == 1 })
	r.tg.Fail("getUpdates", 1, telegramtest.Fault{Until: never})
	return func() {
		r.tg.WaitFor("the next getUpdates to be held", func() bool { return r.tg.Stalled("getUpdates") == 1 })
	}
}

// reference is the engine the binary is compared with.
type reference struct {
	t   *testing.T
	k   *kb.KB
	e   *bot.Engine
	st  *memory.Store
	mu  sync.Mutex
	out map[bot.Address][]flows.Reply
	n   int
}

func (r *reference) Send(_ context.Context, to bot.Address, replies []flows.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out[to] = append(r.out[to], replies...)
	return nil
}

func newReference(t *testing.T) *reference {
	k, m, err := brain.Start("")
	if err != nil {
		t.Fatal(err)
	}
	r := &reference{t: t, k: k, st: memory.New(), out: map[bot.Address][]flows.Reply{}}
	r.e, err = bot.New(bot.Config{KB: k, Classifier: m, Store: r.st, RateMessages: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.e.Register(telegram.Channel, r)
	return r
}

// handle runs a message and returns every reply it caused for its user.
func (r *reference) handle(m bot.Message) []flows.Reply {
	r.t.Helper()
	r.n++
	m.ID, m.Channel, m.Address = "ref"+strconv.Itoa(r.n), telegram.Channel, bot.Address(m.UserID)
	r.mu.Lock()
	before := len(r.out[m.Address])
	r.mu.Unlock()
	if _, err := r.e.Handle(context.Background(), m); err != nil {
		r.t.Fatal(err)
	}
	return r.since(m.Address, before)
}

func (r *reference) since(to bot.Address, before int) []flows.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.out[to][before:])
}

func (r *reference) text(u telegramtest.User, text string) []flows.Reply {
	return r.handle(bot.Message{UserID: strconv.FormatInt(u.ID, 10), UserName: nameOf(u), Text: text})
}

func (r *reference) press(u telegramtest.User, data string) []flows.Reply {
	return r.handle(bot.Message{UserID: strconv.FormatInt(u.ID, 10), UserName: nameOf(u), Button: data})
}

// nameOf is how the Telegram channel names a user to the engine.
func nameOf(u telegramtest.User) string {
	if u.UserName != "" {
		return "@" + u.UserName
	}
	return u.First
}

func (r *reference) claim(ticket int64, mod telegramtest.User, user telegramtest.User) []flows.Reply {
	r.t.Helper()
	to := bot.Address(strconv.FormatInt(user.ID, 10))
	r.mu.Lock()
	before := len(r.out[to])
	r.mu.Unlock()
	rep, err := r.e.Moderate(context.Background(), bot.ModAction{Place: telegram.Channel, MsgID: "ref-claim",
		Moderator: "telegram:" + strconv.FormatInt(mod.ID, 10), Name: mod.First, IsModerator: true, Op: bot.ModClaim, Ticket: ticket})
	if err != nil || rep.Refused {
		r.t.Fatalf("reference claim: %v %+v", err, rep)
	}
	return r.since(to, before)
}

func (r *reference) conversation(u telegramtest.User) *bot.Conversation {
	r.t.Helper()
	c, err := r.st.Get(context.Background(), bot.Key{Channel: telegram.Channel, User: strconv.FormatInt(u.ID, 10)})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// shown is a reply as the Telegram user sees it: its text and buttons.
type shown struct {
	Text    string
	Buttons []string
}

// render turns replies into what the Telegram channel shows (one message
// per reply; a reply with buttons and no text gets the "choose one" text).
func (r *reference) render(replies []flows.Reply) []shown {
	r.t.Helper()
	var out []shown
	for _, rp := range replies {
		var ids []string
		for _, b := range rp.Buttons {
			if len(b.ID) > 0 && len(b.ID) <= 64 && strings.TrimSpace(b.Label) != "" {
				ids = append(ids, b.ID)
			}
		}
		text := rp.Text
		if strings.TrimSpace(text) == "" {
			if len(ids) == 0 {
				continue
			}
			text = r.k.Msg("choose_one")
		}
		if len(utf16.Encode([]rune(text))) > 4096 {
			r.t.Fatalf("a reply longer than one Telegram message; the comparison does not split: %.80q…", text)
		}
		out = append(out, shown{Text: text, Buttons: ids})
	}
	return out
}

// crashUser follows what the binary sent one user.
type crashUser struct {
	r    *crashRig
	ref  *reference
	u    telegramtest.User
	seen int // messages of the binary in the user's chat checked so far
	want []shown
}

// expect waits until the binary sent the user the reference's replies,
// then checks they are exactly those, in order.
func (c *crashUser) expect(step string, replies []flows.Reply) []telegramtest.Sent {
	c.r.t.Helper()
	want := c.ref.render(replies)
	if len(want) == 0 {
		c.r.t.Fatalf("%s: the reference answered nothing", step)
	}
	c.want = append(c.want, want...)
	n := c.seen + len(want)
	c.r.tg.WaitFor(fmt.Sprintf("%s: %d messages to %s", step, n, c.u.First), func() bool {
		return len(c.r.tg.SentTo(c.u.ID)) >= n
	})
	got := c.r.tg.SentTo(c.u.ID)[c.seen:n]
	c.seen = n
	for i, w := range want {
		if got[i].Text != w.Text || (got[i].Buttons != nil && !slices.Equal(got[i].Buttons, w.Buttons)) {
			c.r.t.Errorf("%s: message %d to %s:\n got  %q %v\n want %q %v", step, i+1, c.u.First, got[i].Text, got[i].Buttons, w.Text, w.Buttons)
		}
	}
	return got
}

// lastButtons is the keyboard of the user's last message.
func (c *crashUser) lastButtons(step string) (int, []string) {
	c.r.t.Helper()
	msg, data := c.r.tg.LastKeyboard(c.u.ID)
	if msg == 0 || len(data) < 2 {
		c.r.t.Fatalf("%s: no question with buttons for %s", step, c.u.First)
	}
	return msg, data
}

func TestCrashAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: builds the binary and kills it three times (about 5s)")
	}
	begin := time.Now()
	bin := buildBinary(t)
	t.Logf("binary built in %s", time.Since(begin).Round(time.Millisecond))

	tg := telegramtest.New(t)
	tg.WaitTimeout = 20 * time.Second
	tg.Admin(crashModChat, crashMia, "creator")
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	dir := t.TempDir()
	r := &crashRig{t: t, bin: bin, tg: tg, db: filepath.Join(dir, "dmdoctor.db")}
	r.env = []string{
		"HOME=" + dir,
		"TMPDIR=" + dir,
		"TELEGRAM_BOT_TOKEN=" + tg.Token,
		"TELEGRAM_API_URL=" + tg.URL,
		"TELEGRAM_MOD_CHAT_ID=" + strconv.FormatInt(crashModChat, 10),
		"DMDOCTOR_DB=" + r.db,
		"DMDOCTOR_LOG_FORMAT=json",
		"DMDOCTOR_LOG_LEVEL=debug",
		"DMDOCTOR_RATE_LIMIT=off",
	}
	ref := newReference(t)
	alice := &crashUser{r: r, ref: ref, u: crashAlice}
	bob := &crashUser{r: r, ref: ref, u: crashBob}
	aliceKey := bot.Key{Channel: telegram.Channel, User: strconv.FormatInt(crashAlice.ID, 10)}
	bobKey := bot.Key{Channel: telegram.Channel, User: strconv.FormatInt(crashBob.ID, 10)}
	toChat := func(chat int64) func(url.Values) bool {
		return func(p url.Values) bool { return p.Get("chat_id") == strconv.FormatInt(chat, 10) }
	}
	ticketPosts := func(id int) int {
		n := 0
		for _, p := range tg.CallsTo("sendMessage") {
			if p.Get("chat_id") == strconv.FormatInt(crashModChat, 10) && strings.HasPrefix(p.Get("text"), "<b>Ticket #"+strconv.Itoa(id)+" ") {
				n++
			}
		}
		return n
	}

	// Run 1: a conversation starts.
	p1 := r.start()
	const problem = "i cant send messages on tiktok"
	tg.Text(crashAlice.ID, crashAlice, problem)
	alice.expect("first message", ref.text(crashAlice, problem))
	msg, data := alice.lastButtons("first question")
	_, q := tg.Press(crashAlice, msg, data[0])
	alice.expect("first answer", ref.press(crashAlice, data[0]))
	tg.WaitAnswer(q)

	// Kill 1, mid-conversation: the press is stored, its reply is held in
	// sendMessage, its update not confirmed.
	msg, data = alice.lastButtons("second question")
	held := r.holdNext(never)
	tg.Fail("sendMessage", 1, telegramtest.Fault{Until: never, Match: toChat(crashAlice.ID)})
	pressed, q := tg.Press(crashAlice, msg, data[0])
	held()
	tg.WaitFor("the reply to the press to be held", func() bool { return tg.Stalled("sendMessage") == 1 })
	r.settle(1) // only the held reply is undelivered
	p1.kill(t)
	answer := ref.press(crashAlice, data[0])
	out := r.expireLeases()
	if len(out) != 1 || out[0].Key != aliceKey || !slices.EqualFunc(ref.render(out[0].Replies), ref.render(answer), shownEqual) {
		t.Fatalf("after kill 1 the outbox holds %+v; want the held reply to the press", out)
	}
	if n := len(tg.SentTo(crashAlice.ID)); n != alice.seen {
		t.Fatalf("kill 1: %d messages to alice; want %d (the reply was held)", n, alice.seen)
	}

	// Run 2: the held reply is delivered once; the press, handed out again,
	// is dropped by the store as a duplicate.
	p2 := r.start()
	alice.expect("the reply held at kill 1, redelivered", answer)
	tg.WaitAnswer(q)
	if n := tg.Handed(pressed); n != 2 {
		t.Errorf("the press was handed out %d times; want 2 (not confirmed before kill 1)", n)
	}
	tg.WaitFor("run 2 to drop the press as a duplicate", func() bool { return p2.duplicateLogged(t, "q"+q) })
	// The conversation goes on at the same question. A dropped connection
	// on the way exercises the error log (and its token scrubbing).
	msg, data = alice.lastButtons("the question after the restart")
	tg.Fail("sendMessage", 1, telegramtest.Fault{Hangup: true})
	tg.Press(crashAlice, msg, data[1])
	alice.expect("the answer after the restart", ref.press(crashAlice, data[1]))

	// Kill 2, mid-hand-off: the ticket is created and shown to the
	// moderators; the queue position, the hand-off's last reply, is held.
	const human = "i want to talk to a human"
	handoff := ref.text(crashAlice, human)
	if len(handoff) != 2 || !strings.Contains(handoff[1].Text, "queue") {
		t.Fatalf("the reference hand-off answered %+v; want the hand-off and the queue position", handoff)
	}
	held = r.holdNext(never)
	tg.Fail("sendMessage", 1, telegramtest.Fault{Until: never, Match: func(p url.Values) bool {
		return toChat(crashAlice.ID)(p) && telegramtest.HTMLText(p.Get("text")) == handoff[1].Text
	}})
	asked := tg.Text(crashAlice.ID, crashAlice, human)
	held()
	tg.WaitFor("the queue position to be held", func() bool { return tg.Stalled("sendMessage") == 1 })
	alice.expect("the hand-off", handoff[:1])
	r.settle(1) // only the held reply is undelivered
	p2.kill(t)
	if n := ticketPosts(1); n != 1 {
		t.Errorf("ticket 1 posted %d times to the moderators before kill 2; want 1", n)
	}
	out = r.expireLeases()
	if len(out) != 1 || out[0].Key != aliceKey || !slices.EqualFunc(ref.render(out[0].Replies), ref.render(handoff[1:]), shownEqual) {
		t.Fatalf("after kill 2 the outbox holds %+v; want the queue position", out)
	}
	r.inStore(func(s *sqlite.Store) {
		if ts, _ := s.ListTickets(context.Background()); len(ts) != 1 || ts[0].Key != aliceKey || ts[0].State != bot.TicketPending {
			t.Errorf("after kill 2 the tickets are %+v; want alice's, pending", ts)
		}
	})

	// Run 3: the queue position arrives once; alice writing is told a
	// moderator was asked (the hand-off is still pending), not triaged.
	p3 := r.start()
	alice.expect("the queue position held at kill 2, redelivered", handoff[1:])
	tg.WaitFor("run 3 to drop the hand-off request as a duplicate", func() bool { return p3.duplicateLogged(t, "u"+strconv.Itoa(asked)) })
	if n := tg.Handed(asked); n != 2 {
		t.Errorf("the hand-off request was handed out %d times; want 2", n)
	}
	const hello = "hello? is anyone there?"
	tg.Text(crashAlice.ID, crashAlice, hello)
	waiting := ref.text(crashAlice, hello)
	if len(waiting) != 1 || waiting[0].Text != ref.k.Msg("handoff_waiting") {
		t.Fatalf("the reference answered %+v while the hand-off is pending", waiting)
	}
	alice.expect("writing while the hand-off is pending", waiting)

	// Kill 3, at the start of bob's hand-off: his turn is stored, its reply
	// held, and the ticket not yet created.
	held = r.holdNext(never)
	tg.Fail("sendMessage", 1, telegramtest.Fault{Until: never, Match: toChat(crashBob.ID)})
	bobAsked := tg.Text(crashBob.ID, crashBob, human)
	held()
	tg.WaitFor("bob's hand-off reply to be held", func() bool { return tg.Stalled("sendMessage") == 1 })
	r.settle(1) // only the held reply is undelivered
	p3.kill(t)
	bobHandoff := ref.text(crashBob, human)
	if len(bobHandoff) != 2 || !strings.Contains(bobHandoff[1].Text, "queue") {
		t.Fatalf("the reference hand-off answered bob %+v; want the hand-off and the queue position", bobHandoff)
	}
	out = r.expireLeases()
	if len(out) != 1 || out[0].Key != bobKey || !slices.EqualFunc(ref.render(out[0].Replies), ref.render(bobHandoff[:1]), shownEqual) {
		t.Fatalf("after kill 3 the outbox holds %+v; want bob's hand-off reply", out)
	}
	r.inStore(func(s *sqlite.Store) {
		if _, err := s.OpenTicket(context.Background(), bobKey); err != nil {
			t.Errorf("after kill 3 bob's hand-off has no ticket (%v); the ticket is stored with the turn", err)
		}
		c, err := s.Get(context.Background(), bobKey)
		if err != nil || c.Handoff == nil || c.Handoff.Mode != bot.ModePending {
			t.Errorf("after kill 3 bob's conversation is %+v, %v; want a pending hand-off", c, err)
		}
	})

	// Run 4: bob's reply arrives once; bob writing gets his ticket made.
	p4 := r.start()
	bobGot := bob.expect("bob's hand-off reply held at kill 3, redelivered", bobHandoff[:1])
	tg.WaitFor("run 4 to drop bob's request as a duplicate", func() bool { return p4.duplicateLogged(t, "u"+strconv.Itoa(bobAsked)) })
	tg.Text(crashBob.ID, crashBob, hello)
	bobWaiting := ref.text(crashBob, hello)
	// The reference told bob his queue position with the hand-off; the
	// binary, whose ticket came only now, tells it after the waiting note.
	want := append(ref.render(bobWaiting), ref.render(bobHandoff[1:])...)
	tg.WaitFor("bob's waiting note and queue position", func() bool { return len(tg.SentTo(crashBob.ID)) >= len(bobGot)+len(want) })
	if got := tg.SentTo(crashBob.ID)[len(bobGot):]; len(got) != len(want) || got[0].Text != want[0].Text || got[1].Text != want[1].Text {
		t.Errorf("bob got %+v after writing; want %+v", got, want)
	}
	bob.seen += len(want)
	bob.want = append(bob.want, want...)
	tg.WaitFor("bob's ticket to be shown", func() bool { return ticketPosts(2) == 1 })

	// A moderator claims alice's ticket, posted by run 2.
	ticketMsg := tg.WaitMsg(crashModChat, "Ticket #1 ")
	_, mq := tg.Press(crashMia, ticketMsg, "t.claim.1")
	alice.expect("the claim", ref.claim(1, crashMia, crashAlice))
	tg.WaitAnswer(mq)
	p4.stop(t)

	// Nothing lost, nothing twice.
	for _, u := range []*crashUser{alice, bob} {
		got := tg.SentTo(u.u.ID)
		if len(got) != len(u.want) {
			var texts []string
			for _, m := range got {
				texts = append(texts, m.Text)
			}
			t.Errorf("%s got %d messages; want %d:\n%s", u.u.First, len(got), len(u.want), strings.Join(texts, "\n---\n"))
		}
	}
	if n := ticketPosts(1) + ticketPosts(2); n != 2 {
		t.Errorf("%d ticket posts to the moderators; want 2 (one per ticket)", n)
	}
	if out := r.expireLeases(); len(out) != 0 {
		t.Errorf("undelivered replies left: %+v", out)
	}
	r.inStore(func(s *sqlite.Store) {
		ctx := context.Background()
		ts, err := s.ListTickets(ctx)
		if err != nil || len(ts) != 2 || ts[0].Key != aliceKey || ts[0].State != bot.TicketClaimed || ts[0].ModeratorName != crashMia.First ||
			ts[1].Key != bobKey || ts[1].State != bot.TicketPending {
			t.Errorf("tickets %+v, %v; want alice's claimed by Mia and bob's pending", ts, err)
		}
		for _, u := range []telegramtest.User{crashAlice, crashBob} {
			c, err := s.Get(ctx, bot.Key{Channel: telegram.Channel, User: strconv.FormatInt(u.ID, 10)})
			if err != nil {
				t.Fatal(err)
			}
			w := ref.conversation(u)
			if c.Version != w.Version || c.State.Phase != w.State.Phase || c.State.Seq != w.State.Seq ||
				c.Handoff == nil || w.Handoff == nil || *c.Handoff != *w.Handoff {
				t.Errorf("%s's conversation: version %d, phase %s, seq %d, hand-off %+v; the reference's: %d, %s, %d, %+v",
					u.First, c.Version, c.State.Phase, c.State.Seq, c.Handoff, w.Version, w.State.Phase, w.State.Seq, w.Handoff)
			}
		}
	})

	// The token never shows: not in logs, not in errors.
	scrubbed := false
	for _, p := range r.procs {
		all := p.stdout.String() + p.stderr.String()
		if strings.Contains(all, tg.Token) || strings.Contains(all, url.PathEscape(tg.Token)) {
			t.Errorf("run %d wrote the bot token", p.n)
		}
		scrubbed = scrubbed || strings.Contains(all, "<token>")
		p.logs(t)
	}
	if !scrubbed {
		t.Error("no run logged a failed call with its URL (<token>): the token check saw no error path")
	}
	t.Logf("4 runs, 3 kills, %d messages to alice, %d to bob, in %s", alice.seen, bob.seen, time.Since(begin).Round(time.Millisecond))
}

func shownEqual(a, b shown) bool { return a.Text == b.Text && slices.Equal(a.Buttons, b.Buttons) }
