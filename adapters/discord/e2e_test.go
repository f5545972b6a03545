package discord

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/discord/discordtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// The end-to-end tests run the real discordgo against the fake Discord of
// package discordtest, on loopback.

const wait = 10 * time.Second // upper bound of any one wait; tests take far less

var (
	uAlice = discordtest.User{ID: alice, Username: "alice"}
	uBob   = discordtest.User{ID: bob, Username: "bob"}
)

// rig is one adapter running against one fake Discord.
type rig struct {
	t      *testing.T
	fake   *discordtest.Server
	a      *Adapter
	logs   *syncBuffer
	obs    *counter
	cancel context.CancelFunc
	done   chan error
}

// option changes the adapter's Config or the fake before Run.
type option func(*Config, *discordtest.Server)

func start(t *testing.T, h Handler, opts ...option) *rig {
	t.Helper()
	r := startNoWait(t, h, opts...)
	r.fake.Wait(t, "the bot connected and registered its commands", wait, func(v discordtest.View) bool {
		return v.Connected && len(v.CallsTo("PUT", "/applications/")) > 0
	})
	return r
}

func startNoWait(t *testing.T, h Handler, opts ...option) *rig {
	t.Helper()
	fake := discordtest.New(t)
	r := &rig{t: t, fake: fake, logs: &syncBuffer{}, obs: &counter{}, done: make(chan error, 1)}
	cfg := Config{
		Token:         fake.Token,
		Logger:        slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:      r.obs,
		HTTPClient:    fake.Client(),
		Backoff:       20 * time.Millisecond,
		MaxBackoff:    200 * time.Millisecond,
		ShutdownGrace: 3 * time.Second,
	}
	for _, o := range opts {
		o(&cfg, fake)
	}
	a, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := h.(*bot.Engine); ok {
		a.Register(e)
	}
	if s, ok := h.(interface{ setSender(bot.Sender) }); ok {
		s.setSender(a)
	}
	r.a = a
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		r.stop()
		for _, secret := range []string{fake.Token, "SECRET"} {
			if strings.Contains(r.logs.String(), secret) {
				t.Errorf("a secret (%q) is in the logs:\n%s", secret, r.logs)
			}
		}
		if t.Failed() {
			t.Logf("adapter logs:\n%s", r.logs)
		}
	})
	return r
}

// quiet waits until no turn is in progress.
func (r *rig) quiet() {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	for r.a.active.Load() != 0 {
		if time.Now().After(deadline) {
			r.t.Fatal("turns still running")
		}
		time.Sleep(time.Millisecond)
	}
}

// stop ends Run and checks it returned nil in time.
func (r *rig) stop() {
	r.t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(wait):
		r.t.Fatalf("Run did not return after its context ended")
	}
}

// echo answers every message with its text, with two buttons owned by the
// conversation, and a stale press with a stale turn. It delivers through
// its Sender when it has one, as the engine does.
type echo struct {
	mu      sync.Mutex
	sender  bot.Sender
	handled []bot.Message
	block   chan struct{} // when set, Handle waits for it to close
}

func (e *echo) setSender(s bot.Sender) { e.mu.Lock(); e.sender = s; e.mu.Unlock() }

func (e *echo) Moderate(context.Context, bot.ModAction) (bot.ModReply, error) {
	return bot.ModReply{Text: "moderated"}, nil
}

func (e *echo) Handle(ctx context.Context, m bot.Message) (bot.Turn, error) {
	e.mu.Lock()
	e.handled = append(e.handled, m)
	block, s := e.block, e.sender
	e.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return bot.Turn{}, ctx.Err()
		}
	}
	text := m.Text
	switch {
	case m.Button != "":
		text = "pressed " + m.Button
	case m.Command != "":
		text = "/" + m.Command + " " + m.Text
	}
	stale := strings.HasPrefix(m.Button, "0.")
	t := bot.Turn{Stale: stale, Replies: []flows.Reply{{
		Text:    "echo: " + text,
		Buttons: []flows.Button{{ID: "1.o.yes", Label: "Yes"}, {ID: "1.o.no", Label: "No"}},
		Private: stale,
	}}}
	if s != nil {
		return t, s.Send(ctx, m.Address, t.Replies)
	}
	return t, nil
}

func (e *echo) count(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, m := range e.handled {
		if m.ID == id {
			n++
		}
	}
	return n
}

// texts returns the contents of messages.
func texts(ms []discordtest.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Content)
	}
	return out
}

func has(ms []discordtest.Message, content string) int {
	n := 0
	for _, m := range ms {
		if m.Content == content {
			n++
		}
	}
	return n
}

func TestE2EReconnectResumesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	h := &echo{}
	r := start(t, h)
	f := r.fake
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "first"})
	f.Wait(t, "the first reply", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: first") == 1 })
	for deadline := time.Now().Add(wait); !r.a.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready while connected")
		}
	}
	session := f.Snapshot().Identifies

	// The connection drops; meanwhile alice writes again. On resume the
	// fake replays what was missed and, as Discord may, the last dispatch
	// the bot had already seen.
	f.ReplayOnResume(1)
	f.Drop()
	second := f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "second"})
	v := f.Wait(t, "the resumed session answered the second message", wait, func(v discordtest.View) bool {
		return has(v.In(dm), "echo: second") == 1 && len(v.Resumes) == 1 && v.Connected
	})
	if got := v.Resumes[0]; got.SessionID == "" || got.Seq == 0 {
		t.Errorf("resume %+v", got)
	}
	if len(v.Identifies) != len(session) {
		t.Errorf("identified again (%d) instead of resuming", len(v.Identifies))
	}
	third := f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "third"})
	v = f.Wait(t, "the third reply", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: third") == 1 })
	for deadline := time.Now().Add(wait); !r.a.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready after resuming")
		}
	}
	if got := texts(v.In(dm)); strings.Join(got, "|") != "echo: first|echo: second|echo: third" {
		t.Errorf("replies %q: want each once, in order", got)
	}
	if h.count("m"+second) != 1 || h.count("m"+third) != 1 {
		t.Errorf("handled second %d times, third %d times", h.count("m"+second), h.count("m"+third))
	}
	if v.Heartbeats == 0 {
		t.Error("no heartbeats")
	}
	if !strings.Contains(r.logs.String(), "seen before") {
		t.Error("no replayed dispatch was dropped: the fake did not replay")
	}
}

func TestE2EInvalidSessionIdentifiesAgain(t *testing.T) {
	t.Parallel()
	r := start(t, &echo{})
	f := r.fake
	f.RejectNextResume()
	f.Drop()
	f.Wait(t, "a new session after Invalid Session", wait, func(v discordtest.View) bool {
		return len(v.Resumes) == 1 && len(v.Identifies) == 2 && v.Connected
	})
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "still there?"})
	f.Wait(t, "a reply in the new session", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: still there?") == 1 })
}

func TestE2ERateLimit(t *testing.T) {
	t.Parallel()
	r := start(t, &echo{})
	f := r.fake
	f.Fail("POST", "/channels/"+dm+"/messages", 429, 1, 150*time.Millisecond)
	begin := time.Now()
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "hi"})
	v := f.Wait(t, "the reply after the 429", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: hi") == 1 })
	calls := v.CallsTo("POST", "/channels/"+dm+"/messages")
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("calls:\n%s", v.CallLog())
	}
	if gap := calls[1].Time.Sub(calls[0].Time); gap < 150*time.Millisecond {
		t.Errorf("retried after %v, before retry_after", gap)
	}
	if time.Since(begin) > 5*time.Second {
		t.Errorf("took %v", time.Since(begin))
	}
	if r.obs.get("retry") != 1 || r.obs.get("undelivered") != 0 {
		t.Errorf("observer %v", r.obs.snapshot())
	}
}

func TestE2EServerErrors(t *testing.T) {
	t.Parallel()
	r := start(t, &echo{})
	f := r.fake
	f.Fail("POST", "/channels/"+dm+"/messages", 500, 2, 0)
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "one"})
	f.Wait(t, "the reply after two 500s", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: one") == 1 })

	f.Fail("POST", "/channels/"+dm+"/messages", 502, 100, 0)
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "two"})
	v := f.Wait(t, "four tries", wait, func(v discordtest.View) bool {
		return len(v.CallsTo("POST", "/channels/"+dm+"/messages")) == 3+DefaultMaxAttempts
	})
	deadline := time.Now().Add(wait)
	for r.obs.get("undelivered") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r.obs.get("undelivered") != 1 {
		t.Fatalf("undelivered %d; calls:\n%s", r.obs.get("undelivered"), v.CallLog())
	}
	if logs := r.logs.String(); !strings.Contains(logs, "reply not delivered") || strings.Contains(logs, "echo: two") {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestE2EEveryonePingsNobody(t *testing.T) {
	t.Parallel()
	r := start(t, &echo{})
	f := r.fake
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "@everyone @here <@&123456789012345678> **look**"})
	// The fake refuses any message whose allowed_mentions could ping.
	v := f.Wait(t, "the echo", wait, func(v discordtest.View) bool { return len(v.In(dm)) == 1 })
	got := v.In(dm)[0].Content
	want := "echo: @\u200beveryone @\u200bhere \\<@&123456789012345678\\> \\*\\*look\\*\\*"
	if got != want {
		t.Errorf("content %q, want %q", got, want)
	}
}

func TestE2ELongReplyIsSplit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat(strings.Repeat("x", 79)+"\n", 60) // 4800 characters
	r := start(t, handlerFunc(func(ctx context.Context, m bot.Message) (bot.Turn, error) {
		return bot.Turn{Replies: []flows.Reply{{Text: long, Buttons: []flows.Button{{ID: "1.o.yes", Label: "Yes"}}}}}, nil
	}))
	r.fake.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "tell me everything"})
	v := r.fake.Wait(t, "three messages", wait, func(v discordtest.View) bool { return len(v.In(dm)) == 3 })
	ms := v.In(dm)
	if len(ms[0].Buttons) != 0 || len(ms[1].Buttons) != 0 || len(ms[2].Buttons) != 1 {
		t.Errorf("buttons not on the last chunk only")
	}
	if strings.Join(texts(ms), "\n") != strings.TrimSuffix(long, "\n") {
		t.Errorf("chunks don't join back to the reply")
	}
}

func TestE2EAcknowledgesBeforeTheTurn(t *testing.T) {
	t.Parallel()
	h := &echo{block: make(chan struct{})}
	r := start(t, h)
	f := r.fake
	id := f.Slash(discordtest.Command{Name: "troubleshoot", Problem: "slow", ChannelID: dm, User: uAlice})
	v := f.Wait(t, "the deferred acknowledgement while the turn still runs", wait, func(v discordtest.View) bool {
		_, ok := v.AckLatency[id]
		return ok
	})
	if v.AckType[id] != 5 || v.AckLatency[id] > 3*time.Second {
		t.Errorf("acknowledged with type %d after %v", v.AckType[id], v.AckLatency[id])
	}
	close(h.block)
	v = f.Wait(t, "the reply replaces thinking", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: /troubleshoot slow") == 1 })
	if m := v.In(dm)[0]; m.Via != "response" {
		t.Errorf("reply via %s, want the deferred response edited", m.Via)
	}
}

func TestE2EShutdownWaitsForTurns(t *testing.T) {
	t.Parallel()
	h := &echo{block: make(chan struct{})}
	r := start(t, h)
	f := r.fake
	id := f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "last words"})
	deadline := time.Now().Add(wait)
	for h.count("m"+id) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.cancel()
	r.cancel = nil
	time.AfterFunc(50*time.Millisecond, func() { close(h.block) })
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
	v := f.Snapshot()
	if has(v.In(dm), "echo: last words") != 1 {
		t.Errorf("the turn in progress was not finished:\n%s", v.CallLog())
	}
	f.Wait(t, "the gateway connection closed", wait, func(v discordtest.View) bool { return !v.Connected })
	if err := r.a.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestE2EMessageContentIntentRefused(t *testing.T) {
	t.Parallel()
	r := startNoWait(t, &echo{}, func(_ *Config, f *discordtest.Server) { f.RefuseIntents(1 << 15) })
	r.fake.Wait(t, "a session without the message content intent", wait, func(v discordtest.View) bool {
		n := len(v.Identifies)
		return v.Connected && n >= 2 && v.Identifies[n-1].Intents&(1<<15) == 0
	})
	if !strings.Contains(r.logs.String(), "message content intent") {
		t.Errorf("no warning about the intent:\n%s", r.logs)
	}
}

func TestE2EBadTokenFails(t *testing.T) {
	t.Parallel()
	r := startNoWait(t, &echo{}, func(c *Config, _ *discordtest.Server) { c.Token = "wrong-" + testSecret })
	select {
	case err := <-r.done:
		r.cancel = nil
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Run: %v", err)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("the error shows the token: %v", err)
		}
		if !errors.As(err, new(*scrubbedError)) {
			t.Errorf("error %T not scrubbed", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not fail")
	}
	if strings.Contains(r.logs.String(), testSecret) {
		t.Errorf("the token is in the logs")
	}
}

func TestE2EThroughAPIURL(t *testing.T) {
	t.Parallel()
	// No redirecting client: DISCORD_API_URL alone routes the REST calls,
	// and the gateway URL is asked of it.
	r := startNoWait(t, &echo{}, func(c *Config, f *discordtest.Server) {
		c.HTTPClient, c.APIURL, c.GuildID = nil, f.URL+"/api", guild
	})
	r.fake.Wait(t, "the commands registered in the server", wait, func(v discordtest.View) bool {
		return v.Connected && len(v.CallsTo("PUT", "/applications/"+discordtest.AppID+"/guilds/"+guild+"/commands")) == 1
	})
	r.fake.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "via the proxy"})
	v := r.fake.Wait(t, "the reply", wait, func(v discordtest.View) bool { return has(v.In(dm), "echo: via the proxy") == 1 })
	if len(v.CallsTo("GET", "/gateway")) == 0 {
		t.Errorf("the gateway URL was not asked of the API URL")
	}
}

func TestE2EShardIdentifies(t *testing.T) {
	t.Parallel()
	r := start(t, &echo{}, func(c *Config, _ *discordtest.Server) { c.ShardID, c.ShardCount = 1, 3 })
	ids := r.fake.Snapshot().Identifies
	if len(ids) == 0 || ids[0].Shard == nil || *ids[0].Shard != [2]int{1, 3} {
		t.Fatalf("identify shard %+v, want [1 3]", ids)
	}
}
