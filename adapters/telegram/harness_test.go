package telegram

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/telegram/telegramtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/internal/backoff"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// People and chats of the tests.
var (
	alice = telegramtest.User{ID: 11, First: "Alice", UserName: "alice"}
	bob   = telegramtest.User{ID: 22, First: "Bob"}
	other = telegramtest.User{ID: 777, First: "Other", UserName: "otherbot", IsBot: true}
)

const group int64 = -100123

// fakeToken is the token the fake Bot API server accepts.
const fakeToken = telegramtest.DefaultToken

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// countObserver counts what the adapter reports.
type countObserver struct {
	mu                                   sync.Mutex
	in, out, apiErrors, retries, undeliv int
	ops                                  []string
}

func (o *countObserver) MessageIn(string)  { o.mu.Lock(); o.in++; o.mu.Unlock() }
func (o *countObserver) MessageOut(string) { o.mu.Lock(); o.out++; o.mu.Unlock() }
func (o *countObserver) Retry(string)      { o.mu.Lock(); o.retries++; o.mu.Unlock() }
func (o *countObserver) Undelivered(string) {
	o.mu.Lock()
	o.undeliv++
	o.mu.Unlock()
}
func (o *countObserver) APIError(_, op string) {
	o.mu.Lock()
	o.apiErrors++
	o.ops = append(o.ops, op)
	o.mu.Unlock()
}

func (o *countObserver) get() (in, out, apiErrors, retries, undelivered int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.in, o.out, o.apiErrors, o.retries, o.undeliv
}

// recorder wraps a Handler and records the turns it ran and the
// moderators' actions.
type recorder struct {
	h       Handler
	mu      sync.Mutex
	msgs    []bot.Message
	turns   []bot.Turn
	acts    []bot.ModAction
	changed chan struct{}
}

func (r *recorder) Moderate(ctx context.Context, a bot.ModAction) (bot.ModReply, error) {
	rep, err := r.h.Moderate(ctx, a)
	r.mu.Lock()
	r.acts = append(r.acts, a)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return rep, err
}

// waitActs waits until n moderators' actions ran and returns them.
func (r *recorder) waitActs(t testing.TB, n int) []bot.ModAction {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got, ch := len(r.acts), r.changed
		acts := append([]bot.ModAction(nil), r.acts...)
		r.mu.Unlock()
		if got >= n {
			return acts
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d moderator actions; got %d", n, got)
		}
	}
}

func (r *recorder) Handle(ctx context.Context, m bot.Message) (bot.Turn, error) {
	t, err := r.h.Handle(ctx, m)
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.turns = append(r.turns, t)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return t, err
}

// wait waits until n turns ran and returns the messages.
func (r *recorder) wait(t testing.TB, n int) []bot.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got, ch := len(r.msgs), r.changed
		msgs := append([]bot.Message(nil), r.msgs...)
		r.mu.Unlock()
		if got >= n {
			return msgs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d turns; got %d", n, got)
		}
	}
}

func (r *recorder) turn(i int) bot.Turn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.turns[i]
}

// scripted is a fake engine: it answers every message with script's turn,
// drops message IDs seen before (as the store does), and delivers through
// the registered Sender like bot.Engine.
type scripted struct {
	sender bot.Sender
	script func(m bot.Message, n int) bot.Turn
	mod    func(a bot.ModAction) bot.ModReply // nil: every action answered "ok"
	mu     sync.Mutex
	seen   map[string]bool
	n      int
}

func (s *scripted) Moderate(ctx context.Context, a bot.ModAction) (bot.ModReply, error) {
	if s.mod == nil {
		return bot.ModReply{Text: "ok"}, nil
	}
	return s.mod(a), nil
}

func (s *scripted) Handle(ctx context.Context, m bot.Message) (bot.Turn, error) {
	s.mu.Lock()
	if m.ID != "" && s.seen[m.ID] {
		s.mu.Unlock()
		return bot.Turn{Duplicate: true}, nil
	}
	s.seen[m.ID] = true
	s.n++
	n := s.n
	s.mu.Unlock()
	t := s.script(m, n)
	if len(t.Replies) > 0 {
		if err := s.sender.Send(ctx, m.Address, t.Replies); err != nil {
			return t, err
		}
	}
	return t, nil
}

// echo answers with what it got and a yes/no keyboard.
func echo(m bot.Message, n int) bot.Turn {
	text := "You said: " + m.Text
	if m.Button != "" {
		text = "You pressed " + m.Button
	}
	return bot.Turn{Replies: []flows.Reply{{Text: text, Buttons: []flows.Button{
		{ID: fmt.Sprintf("%d.o.yes", n), Label: "Yes"}, {ID: fmt.Sprintf("%d.o.no", n), Label: "No"},
	}}}}
}

// harness runs an Adapter against a fake Telegram server.
type harness struct {
	t      *testing.T
	tg     *telegramtest.Server
	a      *Adapter
	rec    *recorder
	obs    *countObserver
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error

	// With the real engine:
	engine *bot.Engine
	store  *memory.Store
	clock  *fakeClock

	mu     sync.Mutex
	sleeps []time.Duration
}

type engineKind int

const (
	fakeEngine engineKind = iota
	realEngine
)

// options of a harness.
type options struct {
	engine engineKind
	script func(m bot.Message, n int) bot.Turn
	mod    func(a bot.ModAction) bot.ModReply // the fake engine's moderators' actions
	config func(*Config)
	before func(*telegramtest.Server) // prepares the fake server before the adapter runs
	noRun  bool
}

// fakeClock is the engine's clock in tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// trained is the real knowledge base and its model, trained once for all
// tests (both are read-only).
var trained = sync.OnceValues(func() (kit, error) {
	k, m, err := brain.Start("")
	return kit{k, m}, err
})

type kit struct {
	kb    *kb.KB
	model *intents.Model
}

// start builds the fake server, the engine and the adapter, and runs the
// adapter until the test ends. It checks at the end that no log line
// holds the token and that every goroutine ended.
func start(t *testing.T, o options) *harness {
	t.Helper()
	base := runtime.NumGoroutine()
	h := &harness{t: t, tg: telegramtest.New(t), obs: &countObserver{}, logs: &syncBuffer{}, done: make(chan error, 1)}
	transport := &http.Transport{}
	cfg := Config{
		Token:          fakeToken,
		APIURL:         h.tg.URL,
		Logger:         slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:       h.obs,
		PollTimeout:    time.Second,
		RequestTimeout: 2 * time.Second,
		Backoff:        time.Millisecond,
		MaxBackoff:     8 * time.Millisecond,
		ShutdownGrace:  time.Second,
		HTTPClient:     &http.Client{Transport: transport},
	}
	if o.config != nil {
		o.config(&cfg)
	}
	if o.before != nil {
		o.before(h.tg)
	}
	var engine Handler
	var register func(*Adapter)
	switch o.engine {
	case realEngine:
		kit, err := trained()
		if err != nil {
			t.Skipf("the knowledge base does not load or train yet (go test ./kb/): %v", err)
		}
		h.store = memory.New()
		h.clock = &fakeClock{now: time.Now()}
		e, err := bot.New(bot.Config{KB: kit.kb, Classifier: kit.model, Store: h.store, Clock: h.clock.Now, Logger: cfg.Logger})
		if err != nil {
			t.Fatal(err)
		}
		h.engine = e
		engine, register = e, func(a *Adapter) { a.Register(e) }
	default:
		script := o.script
		if script == nil {
			script = echo
		}
		s := &scripted{script: script, mod: o.mod, seen: map[string]bool{}}
		engine, register = s, func(a *Adapter) { s.sender = a }
	}
	h.rec = &recorder{h: engine, changed: make(chan struct{})}
	a, err := New(cfg, h.rec)
	if err != nil {
		t.Fatal(err)
	}
	register(a)
	a.sleep = func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		h.sleeps = append(h.sleeps, d)
		h.mu.Unlock()
		return backoff.Sleep(ctx, min(d, time.Millisecond))
	}
	h.a = a
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		h.tg.Close()
		transport.CloseIdleConnections()
		if strings.Contains(h.logs.String(), fakeToken) {
			t.Errorf("the token appears in the logs:\n%s", h.logs.String())
		}
		checkGoroutines(t, base)
	})
	if o.noRun {
		close(h.done)
		return h
	}
	go func() { h.done <- a.Run(ctx) }()
	select {
	case <-a.started:
	case err := <-h.done:
		h.done <- err
		t.Fatalf("Run ended before starting: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the adapter did not start")
	}
	return h
}

// stop ends Run and returns its error (once).
func (h *harness) stop() error {
	h.cancel()
	select {
	case err, ok := <-h.done:
		if !ok {
			return nil
		}
		close(h.done)
		if err != nil && strings.Contains(err.Error(), fakeToken) {
			h.t.Errorf("Run's error holds the token: %v", err)
		}
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return after its context ended")
		return nil
	}
}

func (h *harness) waits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}

// checkGoroutines waits for the goroutine count to fall back to base.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines leaked: %d running, %d before the test\n%s", n, base, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
