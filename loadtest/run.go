package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/kb"
)

// Channel is the channel simulated users write on.
const Channel = "loadtest"

// Defaults of Config.
const (
	DefaultUsers        = 300
	DefaultTurns        = 20
	DefaultHandoffEvery = 10
	DefaultRedeliver    = 50
	DefaultModerators   = 4
	DefaultModWait      = 30 * time.Second
	DefaultDrain        = 60 * time.Second
	maxProblems         = 20 // problems reported in full; the rest are counted
)

// Config says what load to run. The zero value of a field means its
// default; a negative HandoffEvery or RedeliverEvery turns that off.
type Config struct {
	KB         *kb.KB
	Classifier bot.Classifier
	// Open opens the store the engine runs on; Run closes it. Goroutines
	// are counted before Open and after Close.
	Open func(ctx context.Context) (bot.Store, error)

	Users int // users writing at once (300)
	Turns int // messages each user sends (20)
	// HandoffEvery: one user in this many asks for a person at some turn
	// of their conversation (10).
	HandoffEvery int
	// RedeliverEvery: one message in this many is delivered twice, as chat
	// platforms do after a timeout; the second must be recognised (50).
	RedeliverEvery int
	Moderators     int // moderators working tickets at once (4)
	// ModWait bounds how long a user who asked for a person waits for the
	// moderators before writing on (30s).
	ModWait time.Duration
	// Drain bounds how long the moderators get, once the users are done,
	// to close the tickets left (60s).
	Drain time.Duration
	// Think is a user's pause between reading the replies and writing the
	// next message (none: users write as fast as the engine answers).
	Think time.Duration
	// SendDelay is how long delivering one batch of replies takes (a
	// chat platform's API call; none by default).
	SendDelay time.Duration
	// MaxConcurrent is the engine's cap on turns at once (its default).
	MaxConcurrent int
	Seed          uint64
	Logger        *slog.Logger // the engine's; discarded by default
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Users, DefaultUsers)
	def(&c.Turns, DefaultTurns)
	def(&c.HandoffEvery, DefaultHandoffEvery)
	def(&c.RedeliverEvery, DefaultRedeliver)
	def(&c.Moderators, DefaultModerators)
	if c.ModWait <= 0 {
		c.ModWait = DefaultModWait
	}
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Report is what a run measured and found.
type Report struct {
	Users, Turns int
	Messages     int // user messages handled (redeliveries not counted)
	Redelivered  int // messages delivered twice, recognised as duplicates
	Sends        int // batches of replies delivered
	Handoffs     int // turns that handed a conversation to the moderators
	Tickets      int
	ClaimRaces   int // tickets two moderators claimed at once
	ModActions   int // claims, replies, resolves and returns that went through
	Ratings      int // tickets the user rated

	Elapsed     time.Duration // from the first message to the last reply
	TurnsPerSec float64       // Messages / Elapsed
	// Latency of Engine.Handle for a user message: waiting for a turn
	// slot and the conversation's lock, classifying, the flow, the store,
	// delivery.
	P50, P90, P99, Max time.Duration
	// PeakHeap is the largest heap seen (objects live or not yet swept),
	// sampled every 20 ms.
	PeakHeap uint64
	// PeakRSS is the process's peak resident set (VmHWM), reset when the
	// run starts (Linux; elsewhere 0).
	PeakRSS          uint64
	GoroutinesBefore int // before the store was opened
	GoroutinesAfter  int // after everything was shut down

	// Problems lists what went wrong: a reply lost or delivered twice, a
	// hand-off without exactly one ticket, a goroutine left running, an
	// error. Empty when every check passed.
	Problems []string
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d users × %d turns: %d messages in %s: %.0f turns/s\n",
		r.Users, r.Turns, r.Messages, r.Elapsed.Round(time.Millisecond), r.TurnsPerSec)
	fmt.Fprintf(&b, "turn latency: p50 %s, p90 %s, p99 %s, max %s\n",
		round(r.P50), round(r.P90), round(r.P99), round(r.Max))
	fmt.Fprintf(&b, "peak memory: heap %.1f MiB, RSS %.1f MiB\n", mib(r.PeakHeap), mib(r.PeakRSS))
	fmt.Fprintf(&b, "%d reply batches sent, %d redeliveries recognised, %d hand-offs, %d tickets (%d claim races), %d moderator actions, %d ratings\n",
		r.Sends, r.Redelivered, r.Handoffs, r.Tickets, r.ClaimRaces, r.ModActions, r.Ratings)
	fmt.Fprintf(&b, "goroutines: %d before, %d after\n", r.GoroutinesBefore, r.GoroutinesAfter)
	if r.OK() {
		b.WriteString("checks: ok (every message answered exactly once, one ticket per hand-off, no goroutine left)\n")
	} else {
		fmt.Fprintf(&b, "checks: %d problems:\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// Run drives an engine on the store of cfg.Open with cfg.Users users at
// once, each sending cfg.Turns messages, and moderators working the
// tickets of those who ask for a person; then it shuts everything down
// and checks the outcome. The error is for a run that could not start or
// was cancelled; what went wrong under load is in Report.Problems.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.KB == nil || cfg.Classifier == nil || cfg.Open == nil:
		return nil, errors.New("loadtest: config needs KB, Classifier and Open")
	case cfg.Users < 0 || cfg.Turns < 0:
		return nil, errors.New("loadtest: negative users or turns")
	}
	script, err := NewScript(cfg.KB)
	if err != nil {
		return nil, err
	}
	rep := &Report{Users: cfg.Users, Turns: cfg.Turns, GoroutinesBefore: runtime.NumGoroutine()}
	resetPeakRSS()

	store, err := cfg.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadtest: open store: %w", err)
	}
	d := newDriver(cfg, script, store, rep)
	e, err := bot.New(bot.Config{
		KB: cfg.KB, Classifier: cfg.Classifier, Store: store, ModPlaces: []bot.ModPlace{d.place},
		Logger: cfg.Logger, RateMessages: -1, MaxConcurrent: cfg.MaxConcurrent,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	e.Register(Channel, d.rec)
	d.engine = e
	runErr := d.run(ctx)
	if err := store.Close(); err != nil {
		d.problem("closing the store: %v", err)
	}
	if runErr != nil {
		return nil, runErr
	}
	rep.GoroutinesAfter = settle(rep.GoroutinesBefore, 5*time.Second)
	if rep.GoroutinesAfter > rep.GoroutinesBefore {
		d.problem("goroutines left after shutdown: %d before, %d after:\n%s",
			rep.GoroutinesBefore, rep.GoroutinesAfter, goroutineDump())
	}
	rep.PeakRSS = peakRSS()
	rep.Problems = d.problems()
	return rep, nil
}

// driver is one run's shared state.
type driver struct {
	cfg    Config
	script *Script
	store  bot.Store
	engine *bot.Engine
	rep    *Report
	rec    *recorder
	place  *modPlace
	users  []*user

	mu       sync.Mutex
	probs    []string
	nProbs   int
	expected []modSend // moderators' actions that must reach the user once

	handoffs, redelivered, modActions, races atomic.Int64
}

// user is one simulated user: their own goroutine writes, the recorder
// (under mu) writes down what they were sent.
type user struct {
	i    int
	id   string
	addr bot.Address
	rng  *rand.Rand

	// Written by the user's goroutine only.
	msgs      []sentMsg
	latencies []time.Duration
	handoffs  int
	humanAt   int // the turn at which they ask for a person; -1: never

	// resolved is signalled by the moderators when they have closed the
	// user's ticket.
	resolved chan struct{}

	mu    sync.Mutex
	sends []delivery    // every batch of replies sent to them
	last  []flows.Reply // the latest batch
}

// sentMsg is one message a user sent and what Handle said of it.
type sentMsg struct {
	id        string
	replies   uint64 // fingerprint of Turn.Replies; 0 when none
	handoff   bool
	redeliver bool // sent twice; the second must be a duplicate
	userLine  bool // the transcript gets a user line for it
}

// delivery is one Send, by the tag of what caused it.
type delivery struct {
	tag string
	fp  uint64
}

// modSend is a moderator's action that must reach the user exactly once
// (want 1) or not at all (want 0, a redelivered reply).
type modSend struct {
	u    *user
	tag  string
	want int
}

func newDriver(cfg Config, script *Script, store bot.Store, rep *Report) *driver {
	d := &driver{cfg: cfg, script: script, store: store, rep: rep}
	d.rec = &recorder{d: d}
	d.place = newModPlace()
	seedRng := rand.New(rand.NewPCG(cfg.Seed, 0x10ad7e57))
	d.users = make([]*user, cfg.Users)
	for i := range d.users {
		id := "u" + strconv.Itoa(i)
		u := &user{i: i, id: id, addr: bot.Address(id), humanAt: -1, resolved: make(chan struct{}, 1),
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))}
		if cfg.HandoffEvery > 0 && cfg.Turns >= 4 && seedRng.IntN(cfg.HandoffEvery) == 0 {
			u.humanAt = 1 + seedRng.IntN(cfg.Turns-2)
		}
		d.users[i] = u
	}
	return d
}

func (d *driver) problem(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nProbs++
	if len(d.probs) < maxProblems {
		d.probs = append(d.probs, fmt.Sprintf(format, args...))
	}
}

func (d *driver) problems() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.probs)
	if d.nProbs > len(d.probs) {
		out = append(out, fmt.Sprintf("… and %d more", d.nProbs-len(d.probs)))
	}
	return out
}

// run runs the users, the moderators and the engine's timed work, stops
// them all, and checks.
func (d *driver) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var bg sync.WaitGroup // the engine's timed work, the moderators, the sampler
	bgCtx, stopBg := context.WithCancel(ctx)
	defer stopBg()
	bg.Go(func() { d.engine.Run(bgCtx, time.Second) })
	var peak atomic.Uint64
	bg.Go(func() { samplePeakHeap(bgCtx, &peak) })
	var mods sync.WaitGroup
	for m := range d.cfg.Moderators {
		mods.Go(func() { d.moderate(bgCtx, m) })
	}

	start := make(chan struct{})
	var users sync.WaitGroup
	for _, u := range d.users {
		users.Go(func() {
			<-start
			d.converse(ctx, u)
		})
	}
	t0 := time.Now()
	close(start)
	users.Wait()
	d.rep.Elapsed = time.Since(t0)

	// The users are done: give the moderators time to close what is left.
	if !d.place.drained(ctx, d.cfg.Drain) {
		d.problem("moderators did not finish the tickets within %s", d.cfg.Drain)
	}
	d.place.close()
	mods.Wait()
	stopBg()
	bg.Wait()
	d.rep.PeakHeap = peak.Load()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	d.check(ctx)
	return nil
}

// converse is one user's conversation.
func (d *driver) converse(ctx context.Context, u *user) {
	u.msgs = make([]sentMsg, 0, d.cfg.Turns)
	u.latencies = make([]time.Duration, 0, d.cfg.Turns)
	waiting := 0 // > 0: handed off; turns written since
	for n := range d.cfg.Turns {
		if ctx.Err() != nil {
			return
		}
		if d.cfg.Think > 0 {
			sleep(ctx, d.cfg.Think/2+time.Duration(u.rng.Int64N(int64(d.cfg.Think))))
		}
		var mv Move
		if waiting == 1 {
			select {
			case <-u.resolved: // the moderators were quick
				waiting = 0
			default:
			}
		}
		switch {
		case waiting == 1:
			// "hello? anyone there?" while the moderators are called.
			mv = d.script.Waiting(u.rng)
			waiting++
		case waiting > 1:
			// Then wait for them to answer (bounded), and go on.
			select {
			case <-u.resolved:
			case <-time.After(d.cfg.ModWait):
			case <-ctx.Done():
				return
			}
			waiting = 0
			mv = d.script.Next(u.rng, u.lastReplies(), false)
		case waiting == 0 && n == u.humanAt:
			mv = d.script.Next(u.rng, u.lastReplies(), true)
		default:
			mv = d.script.Next(u.rng, u.lastReplies(), false)
		}
		m := bot.Message{ID: u.id + "." + strconv.Itoa(n), Channel: Channel, UserID: u.id, Address: u.addr,
			Text: mv.Text, Button: mv.Button, Command: mv.Command, NonText: mv.NonText}
		t0 := time.Now()
		turn, err := d.engine.Handle(tagged(ctx, m.ID), m)
		u.latencies = append(u.latencies, time.Since(t0))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.problem("%s: message %s: %v", u.id, m.ID, err)
		}
		if turn.Duplicate {
			d.problem("%s: message %s: a new message taken for a duplicate", u.id, m.ID)
		}
		sm := sentMsg{id: m.ID, replies: fingerprint(turn.Replies), handoff: turn.Handoff != nil,
			userLine: m.Command != flows.CmdForget}
		if turn.Handoff != nil {
			u.handoffs++
			d.handoffs.Add(1)
			waiting = 1
		}
		if d.cfg.RedeliverEvery > 0 && u.rng.IntN(d.cfg.RedeliverEvery) == 0 {
			sm.redeliver = true
			again, err := d.engine.Handle(tagged(ctx, m.ID+"#again"), m)
			switch {
			case err != nil && ctx.Err() == nil:
				d.problem("%s: redelivered message %s: %v", u.id, m.ID, err)
			case !again.Duplicate || len(again.Replies) > 0:
				d.problem("%s: redelivered message %s was handled again", u.id, m.ID)
			default:
				d.redelivered.Add(1)
			}
		}
		u.msgs = append(u.msgs, sm)
	}
}

func (u *user) lastReplies() []flows.Reply {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// moderate is one moderator: they take tickets as they are posted, claim
// them (now and then racing another moderator for one), write to the
// user, and resolve them (or, one in ten, return them to the assistant).
func (d *driver) moderate(ctx context.Context, m int) {
	me := "loadtest:mod" + strconv.Itoa(m)
	rng := rand.New(rand.NewPCG(d.cfg.Seed, 1<<32+uint64(m)))
	for {
		t, ok := d.place.next(ctx)
		if !ok {
			return
		}
		d.work(ctx, rng, me, t)
		d.place.done()
	}
}

func (d *driver) work(ctx context.Context, rng *rand.Rand, me string, t bot.Ticket) {
	u := d.userOf(t.Key)
	if u == nil {
		d.problem("ticket %d for an unknown user %s", t.ID, t.Key)
		return
	}
	defer func() {
		select {
		case u.resolved <- struct{}{}:
		default:
		}
	}()
	id := strconv.FormatInt(t.ID, 10)
	act := func(op, by, msgID, text string) (bot.ModReply, string, bool) {
		tag := "mod:" + id + ":" + op + ":" + by + ":" + msgID
		r, err := d.engine.Moderate(tagged(ctx, tag), bot.ModAction{Place: placeName, MsgID: msgID, Moderator: by,
			Name: by, IsModerator: true, Op: op, Ticket: t.ID, Text: text})
		if err != nil {
			if ctx.Err() == nil {
				d.problem("ticket %d: %s by %s: %v", t.ID, op, by, err)
			}
			return r, tag, false
		}
		return r, tag, true
	}
	// Claim, alone or racing another moderator.
	if rng.IntN(4) == 0 {
		d.races.Add(1)
		rival := me + "-rival"
		var r1, r2 bot.ModReply
		var tag1, tag2 string
		var ok1, ok2 bool
		var wg sync.WaitGroup
		wg.Go(func() { r1, tag1, ok1 = act(bot.ModClaim, me, "", "") })
		wg.Go(func() { r2, tag2, ok2 = act(bot.ModClaim, rival, "", "") })
		wg.Wait()
		if !ok1 || !ok2 {
			return
		}
		if r1.Refused == r2.Refused {
			d.problem("ticket %d: two moderators claiming at once: refused %v and %v, want exactly one", t.ID, r1.Refused, r2.Refused)
			return
		}
		d.modActions.Add(1)
		d.expect(u, tag1, !r1.Refused)
		d.expect(u, tag2, !r2.Refused)
		if r1.Refused {
			me = rival
		}
	} else {
		r, tag, ok := d.act(act, bot.ModClaim, me, "", "")
		if !ok {
			return
		}
		d.expect(u, tag, !r.Refused)
		if r.Refused {
			d.problem("ticket %d: claim refused: %s", t.ID, r.Text)
			return
		}
	}
	// A reply to the user; one in four is delivered to the engine twice.
	msgID := id + "-1"
	r, tag, ok := d.act(act, bot.ModRelay, me, msgID, d.script.ModText(rng))
	if !ok {
		return
	}
	d.expect(u, tag, !r.Refused)
	if r.Refused {
		d.problem("ticket %d: reply refused: %s", t.ID, r.Text)
	}
	if rng.IntN(4) == 0 {
		_, tag, ok := act(bot.ModRelay, me, msgID, d.script.ModText(rng))
		if !ok {
			return
		}
		d.expectNone(u, tag)
	}
	op := bot.ModResolve
	if rng.IntN(10) == 0 {
		op = bot.ModReturn
	}
	r, tag, ok = d.act(act, op, me, "", "")
	if !ok {
		return
	}
	d.expect(u, tag, !r.Refused)
	if r.Refused {
		d.problem("ticket %d: %s refused: %s", t.ID, op, r.Text)
	}
}

// act runs a moderator's action and counts it when it went through.
func (d *driver) act(act func(op, by, msgID, text string) (bot.ModReply, string, bool), op, by, msgID, text string) (bot.ModReply, string, bool) {
	r, tag, ok := act(op, by, msgID, text)
	if ok && !r.Refused {
		d.modActions.Add(1)
	}
	return r, tag, ok
}

// expect notes that the action tagged tag must reach u exactly once when
// it went through, and not at all when it was refused.
func (d *driver) expect(u *user, tag string, through bool) {
	want := 0
	if through {
		want = 1
	}
	d.mu.Lock()
	d.expected = append(d.expected, modSend{u: u, tag: tag, want: want})
	d.mu.Unlock()
}

func (d *driver) expectNone(u *user, tag string) { d.expect(u, tag, false) }

func (d *driver) userOf(k bot.Key) *user {
	if k.Channel != Channel || !strings.HasPrefix(k.User, "u") {
		return nil
	}
	i, err := strconv.Atoi(k.User[1:])
	if err != nil || i < 0 || i >= len(d.users) {
		return nil
	}
	return d.users[i]
}

// check compares what was sent with what each message and each moderator
// action should have produced, the tickets with the hand-offs, and the
// transcripts with the messages; it also fills in the counts and the
// latency percentiles.
func (d *driver) check(ctx context.Context) {
	var lat []time.Duration
	byTag := map[string]int{}
	expected := map[*user][]modSend{}
	d.mu.Lock()
	for _, x := range d.expected {
		expected[x.u] = append(expected[x.u], x)
	}
	d.mu.Unlock()
	for _, u := range d.users {
		lat = append(lat, u.latencies...)
		d.rep.Messages += len(u.msgs)
		u.mu.Lock()
		sends := u.sends
		u.mu.Unlock()
		d.rep.Sends += len(sends)
		clear(byTag)
		fps := map[string][]uint64{}
		for _, s := range sends {
			byTag[s.tag]++
			fps[s.tag] = append(fps[s.tag], s.fp)
		}
		for _, m := range u.msgs {
			got := fps[m.id]
			switch {
			case m.replies == 0 && len(got) > 0 && !m.handoff:
				d.problem("%s: message %s: %d reply batches sent, want none", u.id, m.id, len(got))
			case m.replies != 0 && len(got) == 0:
				d.problem("%s: message %s: replies lost", u.id, m.id)
			case m.replies != 0 && got[0] != m.replies:
				d.problem("%s: message %s: sent replies differ from the turn's", u.id, m.id)
			case m.replies != 0 && count(got, m.replies) > 1:
				d.problem("%s: message %s: replies sent %d times", u.id, m.id, count(got, m.replies))
			case len(got) > 1 && !(m.handoff && len(got) == 2):
				// A hand-off turn may also tell the user their place in the queue.
				d.problem("%s: message %s: %d reply batches sent", u.id, m.id, len(got))
			}
			delete(byTag, m.id)
			if m.redeliver {
				if n := byTag[m.id+"#again"]; n > 0 {
					d.problem("%s: redelivered message %s: %d reply batches sent, want none", u.id, m.id, n)
				}
				delete(byTag, m.id+"#again")
			}
		}
		for _, x := range expected[u] {
			if n := byTag[x.tag]; n != x.want {
				d.problem("%s: moderator action %s: %d reply batches sent, want %d", u.id, x.tag, n, x.want)
			}
			delete(byTag, x.tag)
		}
		for tag, n := range byTag {
			d.problem("%s: %d reply batches sent that no message or moderator caused (tag %q)", u.id, n, tag)
		}
	}
	d.rep.Handoffs = int(d.handoffs.Load())
	d.rep.Redelivered = int(d.redelivered.Load())
	d.rep.ModActions = int(d.modActions.Load())
	d.rep.ClaimRaces = int(d.races.Load())
	if d.rep.Elapsed > 0 {
		d.rep.TurnsPerSec = float64(d.rep.Messages) / d.rep.Elapsed.Seconds()
	}
	slices.Sort(lat)
	d.rep.P50, d.rep.P90, d.rep.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	if len(lat) > 0 {
		d.rep.Max = lat[len(lat)-1]
	}

	// Nothing left in the outbox: every reply was delivered.
	left, err := d.store.ClaimOutbox(ctx, Channel, time.Now().Add(2*bot.OutboxLease), time.Minute, 0)
	if err != nil {
		d.problem("claiming the outbox: %v", err)
	} else if len(left) > 0 {
		d.problem("%d reply batches left undelivered in the outbox", len(left))
	}

	// One ticket per hand-off, and every ticket closed.
	tickets, err := d.store.ListTickets(ctx)
	if err != nil {
		d.problem("listing tickets: %v", err)
		return
	}
	d.rep.Tickets = len(tickets)
	per := map[bot.Key]int{}
	for _, t := range tickets {
		per[t.Key]++
		if t.State.Open() {
			d.problem("ticket %d of %s still %s", t.ID, t.Key, t.State)
		}
		if t.Rating > 0 {
			d.rep.Ratings++
		}
	}
	for _, u := range d.users {
		k := bot.Key{Channel: Channel, User: u.id}
		if per[k] != u.handoffs {
			d.problem("%s: %d tickets for %d hand-offs", u.id, per[k], u.handoffs)
		}
		delete(per, k)
	}
	for k, n := range per {
		d.problem("%d tickets of %s, who is no simulated user", n, k)
	}

	// Every message is in the transcript once (where it was not cut).
	for _, u := range d.users {
		lines, err := d.store.Transcript(ctx, bot.Key{Channel: Channel, User: u.id})
		if err != nil {
			d.problem("%s: transcript: %v", u.id, err)
			continue
		}
		if len(lines) >= bot.TranscriptLimit {
			continue
		}
		want := 0
		for _, m := range u.msgs {
			if m.userLine {
				want++
			}
		}
		got := 0
		for _, l := range lines {
			if l.From == bot.FromUser {
				got++
			}
		}
		if got != want {
			d.problem("%s: transcript has %d user lines, want %d", u.id, got, want)
		}
	}
}

func count(fps []uint64, fp uint64) int {
	n := 0
	for _, f := range fps {
		if f == fp {
			n++
		}
	}
	return n
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// tagKey carries, in the context of Handle and Moderate, what caused the
// replies the recorder is asked to send.
type tagKey struct{}

func tagged(ctx context.Context, tag string) context.Context {
	return context.WithValue(ctx, tagKey{}, tag)
}

// fingerprint identifies a batch of replies (0 for none).
func fingerprint(rs []flows.Reply) uint64 {
	if len(rs) == 0 {
		return 0
	}
	h := fnv.New64a()
	for _, r := range rs {
		io.WriteString(h, r.Text)
		h.Write([]byte{0, boolByte(r.Private)})
		for _, b := range r.Buttons {
			io.WriteString(h, b.ID)
			h.Write([]byte{0})
			io.WriteString(h, b.Label)
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return h.Sum64() | 1
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

var (
	_ bot.Sender   = (*recorder)(nil)
	_ bot.ModPlace = (*modPlace)(nil)
)

// recorder is the channel's Sender: it writes down every batch of replies
// for the user it is addressed to, with the tag of what caused it.
type recorder struct{ d *driver }

func (r *recorder) Send(ctx context.Context, to bot.Address, rs []flows.Reply) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if delay := r.d.cfg.SendDelay; delay > 0 {
		sleep(ctx, delay)
	}
	u := r.d.userOf(bot.Key{Channel: Channel, User: string(to)})
	if u == nil {
		r.d.problem("replies sent to an unknown address %q", to)
		return nil
	}
	tag, _ := ctx.Value(tagKey{}).(string)
	u.mu.Lock()
	u.sends = append(u.sends, delivery{tag: tag, fp: fingerprint(rs)})
	u.last = rs
	u.mu.Unlock()
	return nil
}

// placeName is the moderators' place of the load test.
const placeName = "loadtest"

// modPlace is the moderators' place: posted tickets wait in a queue that
// never blocks the engine, for the moderators to take.
type modPlace struct {
	mu      sync.Mutex
	queue   []bot.Ticket
	pending int           // posted and not yet done
	wake    chan struct{} // signalled when a ticket is queued
	idle    chan struct{} // signalled when pending drops to 0
	closed  chan struct{} // closed by close
}

func newModPlace() *modPlace {
	return &modPlace{wake: make(chan struct{}, 1), idle: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (p *modPlace) Name() string { return placeName }

func (p *modPlace) Post(ctx context.Context, t bot.Ticket, v bot.TicketView) (string, error) {
	p.mu.Lock()
	p.queue = append(p.queue, t)
	p.pending++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return "ticket-" + strconv.FormatInt(t.ID, 10), nil
}

func (p *modPlace) Update(ctx context.Context, t bot.Ticket, ref string, v bot.TicketView) error {
	return ctx.Err()
}

func (p *modPlace) Notify(ctx context.Context, t bot.Ticket, ref string, text string) error {
	return ctx.Err()
}

// next waits for a ticket to work, or returns false once the place is
// closed (or ctx ends).
func (p *modPlace) next(ctx context.Context) (bot.Ticket, bool) {
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			t := p.queue[0]
			p.queue = p.queue[1:]
			more := len(p.queue) > 0
			p.mu.Unlock()
			if more { // pass the wake-up on to another moderator
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
			return t, true
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.closed:
			return bot.Ticket{}, false
		case <-ctx.Done():
			return bot.Ticket{}, false
		}
	}
}

// done marks a ticket taken by next as worked.
func (p *modPlace) done() {
	p.mu.Lock()
	p.pending--
	idle := p.pending == 0
	p.mu.Unlock()
	if idle {
		select {
		case p.idle <- struct{}{}:
		default:
		}
	}
}

// drained waits until every posted ticket is worked, at most limit.
func (p *modPlace) drained(ctx context.Context, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		n := p.pending
		p.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-p.idle:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// close lets the moderators go once the queue is empty.
func (p *modPlace) close() { close(p.closed) }

// samplePeakHeap records the largest live heap seen until ctx ends.
func samplePeakHeap(ctx context.Context, peak *atomic.Uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resetPeakRSS resets the process's peak resident set (Linux), so that
// VmHWM measures this run; elsewhere it does nothing.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident set (VmHWM), or 0.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// settle waits, at most limit, for the goroutines to fall back to want,
// and returns how many there are.
func settle(want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func goroutineDump() string {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	s := b.String()
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return s
}
