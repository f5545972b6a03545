package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/internal/keylock"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/safetext"
)

// maxName bounds a user's or moderator's display name, in runes.
const maxName = 64

// Defaults of Config.
const (
	DefaultExpireAfter  = 2 * time.Hour
	DefaultMaxText      = 2000 // runes of a message the engine reads
	DefaultClaimTimeout = 15 * time.Minute
)

// Config wires an Engine. KB, Classifier and Store are required.
type Config struct {
	KB         *kb.KB
	Classifier Classifier
	Store      Store
	// ModPlaces are where moderators work hand-off tickets; may be empty.
	ModPlaces []ModPlace
	Flows     flows.Config
	// Clock returns the time; tests inject a fake. Default time.Now.
	Clock func() time.Time
	// ExpireAfter ends a conversation left unanswered this long: the next
	// message starts afresh and the old one counts as abandoned.
	ExpireAfter time.Duration
	// ClaimTimeout is how long a ticket waits for a moderator before the
	// user is told nobody is free (default 15 minutes).
	ClaimTimeout time.Duration
	// MaxText is the longest text, in runes, that is read; the rest is
	// dropped and the user told so.
	MaxText int
	Logger  *slog.Logger
	// Hooks are told about turns and hand-offs, for metrics; may be nil.
	Hooks Hooks
	// RateMessages messages per RateWindow is what one user (or one
	// moderator) may send; more are dropped after one polite notice.
	// Defaults 10 in 10 seconds; a negative RateMessages turns it off.
	RateMessages int
	RateWindow   time.Duration
	// MaxConcurrent caps the turns running at once; more wait their turn
	// (default 256).
	MaxConcurrent int
	// Shared says other instances use the same store (PostgreSQL). The
	// engine then leaves a ticket another instance may be posting alone
	// until it is repairAfter old, instead of posting it again at once.
	Shared bool
}

// Hooks observe the engine, for metrics. Every func may be nil; they must
// be cheap and safe for concurrent use.
type Hooks struct {
	Turn    func(channel string, t Turn, d time.Duration)
	Handoff func(reason string)
	Claimed func(waited time.Duration)
	// Limited is told when a message is dropped by the rate limit.
	Limited func(limit string)
}

// Engine runs conversation turns. It is safe for concurrent use: turns of
// different conversations run in parallel, turns of one conversation one
// after another, in arrival order.
type Engine struct {
	cfg   Config
	flow  *flows.Flow
	locks keylock.Locks[Key]
	users *limiter      // per-user and per-moderator message rate
	born  time.Time     // when New ran: TakeOverOutbox takes only older replies
	turns chan struct{} // a slot per turn allowed at once

	mu      sync.RWMutex
	senders map[string]Sender
}

// New returns an Engine, or an error naming what the Config lacks.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.KB == nil:
		return nil, errors.New("bot: config: no knowledge base")
	case cfg.Classifier == nil:
		return nil, errors.New("bot: config: no classifier")
	case cfg.Store == nil:
		return nil, errors.New("bot: config: no store")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ExpireAfter == 0 {
		cfg.ExpireAfter = DefaultExpireAfter
	}
	if cfg.ClaimTimeout == 0 {
		cfg.ClaimTimeout = DefaultClaimTimeout
	}
	if cfg.MaxText == 0 {
		cfg.MaxText = DefaultMaxText
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RateMessages == 0 {
		cfg.RateMessages = DefaultRateMessages
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	return &Engine{
		cfg:     cfg,
		flow:    flows.New(cfg.KB, cfg.Flows),
		users:   newLimiter(cfg.RateMessages, cfg.RateWindow),
		born:    cfg.Clock(),
		turns:   make(chan struct{}, cfg.MaxConcurrent),
		senders: map[string]Sender{},
	}, nil
}

// KB returns the engine's knowledge base.
func (e *Engine) KB() *kb.KB { return e.cfg.KB }

// Store returns the engine's store.
func (e *Engine) Store() Store { return e.cfg.Store }

// Register makes s the Sender of a channel: the engine delivers that
// channel's replies through it, including those a moderator or a timer
// starts.
func (e *Engine) Register(channel string, s Sender) {
	e.mu.Lock()
	e.senders[channel] = s
	e.mu.Unlock()
}

// AddModPlace adds a moderators' place (channels that host one call it
// once they are set up).
func (e *Engine) AddModPlace(p ModPlace) {
	e.mu.Lock()
	e.cfg.ModPlaces = append(e.cfg.ModPlaces, p)
	e.mu.Unlock()
}

func (e *Engine) sender(channel string) Sender {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.senders[channel]
}

func (e *Engine) places() []ModPlace {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return append([]ModPlace(nil), e.cfg.ModPlaces...)
}

// Handle runs one turn for a message: classify, step the flow (or the
// hand-off), store the new state with the replies in one unit, and deliver
// the replies through the channel's Sender when one is registered (else
// the caller delivers Turn.Replies). A message whose ID was handled before
// yields a Turn with Duplicate set and no replies. The error is for the
// operator's log.
func (e *Engine) Handle(ctx context.Context, m Message) (Turn, error) {
	if err := ctx.Err(); err != nil {
		return Turn{}, err
	}
	key := m.Key()
	if key.Channel == "" || key.User == "" {
		return Turn{}, errors.New("bot: message without channel or user")
	}
	start := time.Now()
	now := m.Time
	if now.IsZero() {
		now = e.cfg.Clock()
	}
	if ok, tell := e.users.allow(key.String(), e.cfg.Clock()); !ok {
		return e.limited(ctx, m, tell)
	}
	select {
	case e.turns <- struct{}{}:
		defer func() { <-e.turns }()
	case <-ctx.Done():
		return Turn{}, ctx.Err()
	}
	unlock, err := e.locks.Lock(ctx, key)
	if err != nil {
		return Turn{}, err
	}
	defer unlock()

	if m.Command == flows.CmdForget {
		return e.forget(ctx, m, now)
	}
	text, cut := e.clean(m.Text)
	m.UserName, _ = Clean(m.UserName, maxName)
	in := flows.Input{Text: text, Button: m.Button, Command: m.Command, NonText: m.NonText}
	if m.Button == "" && strings.TrimSpace(text) != "" {
		in.NLU = toNLU(e.cfg.Classifier.Classify(text))
	}

	var turn Turn
	var fx effects
	out, err := e.cfg.Store.Turn(ctx, key, m.ID, func(c *Conversation) (Change, error) {
		turn, fx = Turn{}, effects{}
		var ch Change
		if c.Version == 0 {
			c.Created = now
		}
		c.Key = key
		if m.Address != "" {
			c.Address = m.Address
		}
		if c.Version > 0 && now.Sub(c.Updated) > e.cfg.ExpireAfter && c.Handoff == nil {
			if active(c.State) {
				ch.Outcome = &Outcome{Kind: OutcomeAbandoned, Cause: mainCause(c.State), Time: c.Updated}
			}
			c.State = flows.State{Seq: c.State.Seq}
		}
		ch.Transcript = append(ch.Transcript, Line{Time: now, From: FromUser, Text: userLine(m, text)})

		var replies []flows.Reply
		if c.Handoff != nil {
			replies = e.handoffTurn(c, m, in, &turn, &fx)
		}
		if c.Handoff == nil && (replies == nil || fx.runFlow) {
			o := e.flow.Step(c.State, in)
			c.State = o.State
			replies = append(replies, o.Replies...)
			turn.Stale, turn.Outcome = o.Stale, o.Outcome
			if o.Outcome != "" {
				ch.Outcome = &Outcome{Kind: o.Outcome, Cause: mainCause(o.State), Reason: o.State.Reason, Time: now}
			}
			if o.Handoff != nil {
				h := &Handoff{Key: key, UserName: m.UserName, Address: c.Address, Time: now, Summary: *o.Handoff}
				turn.Handoff = h
				c.Handoff = &HandoffState{Mode: ModePending}
				fx.ticket = h
			}
		}
		if h := fx.ticket; h != nil {
			// The hand-off's ticket is stored with the turn.
			ch.Ticket = &Ticket{Key: key, UserName: h.UserName, Address: h.Address, Reason: h.Reason, Summary: h.Summary, Created: now}
		}
		if cut {
			replies = append([]flows.Reply{{Text: e.cfg.KB.Msg("too_long")}}, replies...)
		}
		c.Updated = now
		turn.Replies = replies
		turn.Intent, turn.Confidence = in.NLU.Intent, in.NLU.Confidence
		turn.Cause, turn.Phase, turn.Turns = c.State.Cause, c.State.Phase, c.State.Turns
		ch.addReplies(key, c.Address, replies, now)
		return ch, nil
	})
	if errors.Is(err, ErrDuplicate) {
		e.cfg.Logger.Debug("duplicate message", "key", key.String(), "id", m.ID)
		return Turn{Duplicate: true}, nil
	}
	if err != nil {
		return Turn{}, fmt.Errorf("bot: turn %s: %w", key, err)
	}
	if turn.Handoff != nil {
		e.cfg.Logger.Info("handed off to moderators", "key", key.String(), "reason", turn.Handoff.Reason)
		if hook := e.cfg.Hooks.Handoff; hook != nil {
			hook(turn.Handoff.Reason)
		}
	}
	errs := []error{e.deliver(ctx, key.Channel, out)}
	errs = append(errs, e.apply(ctx, key, fx, now))
	if h := e.cfg.Hooks.Turn; h != nil {
		h(key.Channel, turn, time.Since(start))
	}
	return turn, errors.Join(errs...)
}

// limited answers a message over the rate limit: the first one of an
// episode gets a polite notice (sent directly, not stored), the rest are
// dropped.
func (e *Engine) limited(ctx context.Context, m Message, tell bool) (Turn, error) {
	if h := e.cfg.Hooks.Limited; h != nil {
		h("user_rate")
	}
	t := Turn{Limited: true}
	if !tell {
		return t, nil
	}
	e.cfg.Logger.Warn("user over the message rate limit", "key", m.Key().String())
	t.Replies = []flows.Reply{{Text: e.cfg.KB.Msg("rate_limited")}}
	if s := e.sender(m.Channel); s != nil {
		if err := s.Send(ctx, m.Address, t.Replies); err != nil {
			return t, fmt.Errorf("bot: deliver to %s: %w", m.Key(), err)
		}
	}
	return t, nil
}

// active reports whether a conversation was in the middle of something.
func active(s flows.State) bool {
	return s.Phase != flows.Idle && s.Phase != flows.Done && s.Phase != ""
}

// mainCause is the cause an outcome is counted under.
func mainCause(s flows.State) string {
	if s.Cause != "" {
		return s.Cause
	}
	if len(s.Detected) > 0 {
		return s.Detected[0]
	}
	return ""
}

// addReplies records replies to the user: a transcript line each, and
// one outbox entry for them all.
func (ch *Change) addReplies(key Key, to Address, replies []flows.Reply, now time.Time) {
	for _, r := range replies {
		ch.Transcript = append(ch.Transcript, Line{Time: now, From: FromBot, Text: r.Text})
	}
	if len(replies) > 0 {
		ch.Outbox = []Outgoing{{Key: key, Address: to, Replies: replies, Created: now}}
	}
}

func userLine(m Message, text string) string {
	switch {
	case m.Command != "":
		return strings.TrimSpace("/" + m.Command + " " + text)
	case m.Button != "":
		return "[button " + m.Button + "]"
	case m.NonText:
		return "[not text]"
	}
	return text
}

// deliver sends outbox entries through the channel's Sender, marking each
// delivered. Without a Sender the caller delivers, so they are marked at
// once.
func (e *Engine) deliver(ctx context.Context, channel string, out []Outgoing) error {
	s := e.sender(channel)
	var errs []error
	for _, o := range out {
		if s != nil {
			if err := s.Send(ctx, o.Address, o.Replies); err != nil {
				e.cfg.Logger.Error("reply not delivered", "key", o.Key.String(), "outbox", o.ID, "err", err)
				errs = append(errs, fmt.Errorf("bot: deliver to %s: %w", o.Key, err))
				continue
			}
		}
		if err := e.cfg.Store.Delivered(ctx, o.ID); err != nil {
			errs = append(errs, fmt.Errorf("bot: mark delivered: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Redeliver sends the replies that were stored but not delivered (the
// process died between the two, or the channel was down), for every
// channel with a registered Sender, respecting the leases of turns in
// progress here or in other instances. Run it now and then (Run does).
func (e *Engine) Redeliver(ctx context.Context) error {
	return e.redeliver(ctx, e.cfg.Clock())
}

// TakeOverOutbox sends every reply that was stored but not delivered before
// the engine was made, including those still leased to a process that
// died: call it at start when this process is the only one using the store
// (SQLite, memory), so a crash's unsent replies go out at once instead of
// after OutboxLease.
// With several instances on one database use Redeliver, which respects the
// other instances' leases.
func (e *Engine) TakeOverOutbox(ctx context.Context) error {
	// A reply stored before this engine was born is leased until before
	// born+OutboxLease; one of this engine's own turns, being delivered
	// right now, until after it. Claiming as of just before that line
	// takes every reply a dead process left, and none of ours.
	return e.redeliver(ctx, e.born.Add(OutboxLease-time.Millisecond))
}

// redeliver claims, as of asOf, the undelivered replies of every channel
// with a Sender, 100 at a time, and delivers them.
func (e *Engine) redeliver(ctx context.Context, asOf time.Time) error {
	e.mu.RLock()
	channels := make([]string, 0, len(e.senders))
	for ch := range e.senders {
		channels = append(channels, ch)
	}
	e.mu.RUnlock()
	var errs []error
	for _, ch := range channels {
		for {
			out, err := e.cfg.Store.ClaimOutbox(ctx, ch, asOf, OutboxLease, 100)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if len(out) == 0 {
				break
			}
			if err := e.deliver(ctx, ch, out); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// forget deletes everything kept about the user and says so. The reply is
// sent directly, not through the outbox, which would keep it.
func (e *Engine) forget(ctx context.Context, m Message, now time.Time) (Turn, error) {
	key := m.Key()
	if t, err := e.cfg.Store.OpenTicket(ctx, key); err == nil {
		if t, err := e.cfg.Store.MoveTicket(ctx, t.ID, []TicketState{TicketPending, TicketClaimed}, TicketExpired, "user", now); err == nil {
			e.updatePlaces(ctx, t)
		}
	}
	if err := e.cfg.Store.Forget(ctx, key); err != nil {
		return Turn{}, fmt.Errorf("bot: forget %s: %w", key, err)
	}
	e.cfg.Logger.Info("user data forgotten", "key", key.String())
	replies := []flows.Reply{{Text: e.cfg.KB.Msg("forgot")}}
	t := Turn{Replies: replies, Phase: flows.Idle}
	if s := e.sender(key.Channel); s != nil {
		if err := s.Send(ctx, m.Address, replies); err != nil {
			return t, fmt.Errorf("bot: deliver to %s: %w", key, err)
		}
	}
	return t, nil
}

// clean makes text safe to process: valid UTF-8, no control or invisible
// format characters, at most MaxText runes. cut reports truncation.
func (e *Engine) clean(s string) (string, bool) {
	return Clean(s, e.cfg.MaxText)
}

// Clean makes user text safe to process and to show: valid UTF-8,
// newlines kept, tabs and carriage returns become spaces, control characters and invisible
// format characters (bidi overrides, zero-width) are dropped, and at most
// max runes are kept. cut reports truncation.
func Clean(s string, max int) (string, bool) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := false
	if max > 0 && len(s) > max && utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s, cut = string(r[:max]), true
	}
	return strings.ReplaceAll(safetext.Strip(s), "\t", " "), cut
}

func toNLU(r intents.Result) flows.NLU {
	n := flows.NLU{Intent: r.Intent, Confidence: r.Confidence}
	if r.OutOfScope {
		n.Intent = kb.OutOfScope
	}
	n.Ranked = make([]flows.Guess, len(r.Ranked))
	for i, g := range r.Ranked {
		n.Ranked[i] = flows.Guess{Intent: g.Intent, Confidence: g.Confidence}
	}
	return n
}
