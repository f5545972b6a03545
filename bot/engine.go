package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
)

// Defaults of Config.
const (
	DefaultExpireAfter = 2 * time.Hour
	DefaultMaxText     = 2000 // runes of a message the engine reads
)

// Config wires an Engine. KB, Classifier and Store are required.
type Config struct {
	KB         *kb.KB
	Classifier Classifier
	Store      Store
	Notifier   Notifier // told of hand-offs; may be nil
	Flows      flows.Config
	// Clock returns the time; tests inject a fake. Default time.Now.
	Clock func() time.Time
	// ExpireAfter ends a conversation left unanswered this long: the next
	// message starts afresh.
	ExpireAfter time.Duration
	// MaxText is the longest text, in runes, that is read; the rest is
	// dropped and the user told so.
	MaxText int
	Logger  *slog.Logger
}

// Engine runs conversation turns. It is safe for concurrent use: turns of
// different conversations run in parallel, turns of one conversation one
// after another, in arrival order.
type Engine struct {
	cfg   Config
	flow  *flows.Flow
	locks keyedMutex

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
	if cfg.MaxText == 0 {
		cfg.MaxText = DefaultMaxText
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		cfg:     cfg,
		flow:    flows.New(cfg.KB, cfg.Flows),
		senders: map[string]Sender{},
	}, nil
}

// Register makes s the Sender of a channel: the engine delivers that
// channel's replies through it.
func (e *Engine) Register(channel string, s Sender) {
	e.mu.Lock()
	e.senders[channel] = s
	e.mu.Unlock()
}

func (e *Engine) sender(channel string) Sender {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.senders[channel]
}

// Handle runs one turn for a message: classify, step the flow, store the
// new state with the replies, and deliver them through the channel's
// Sender when one is registered (else the caller delivers Turn.Replies).
// A message whose ID was handled before yields a Turn with Duplicate set
// and no replies. The error is for the operator's log; the user always
// gets a reply when one could be made.
func (e *Engine) Handle(ctx context.Context, m Message) (Turn, error) {
	if err := ctx.Err(); err != nil {
		return Turn{}, err
	}
	key := m.Key()
	if key.Channel == "" || key.User == "" {
		return Turn{}, errors.New("bot: message without channel or user")
	}
	unlock := e.locks.lock(key.String())
	defer unlock()

	now := m.Time
	if now.IsZero() {
		now = e.cfg.Clock()
	}
	text, cut := e.clean(m.Text)
	in := flows.Input{Text: text, Button: m.Button, Command: m.Command, NonText: m.NonText}
	var res intents.Result
	if m.Button == "" && strings.TrimSpace(text) != "" {
		res = e.cfg.Classifier.Classify(text)
		in.NLU = toNLU(res)
	}

	var turn Turn
	out, err := e.cfg.Store.Turn(ctx, key, m.ID, func(c *Conversation) ([]Outgoing, error) {
		state := c.State
		if c.Version > 0 && now.Sub(c.Updated) > e.cfg.ExpireAfter && state.Phase != flows.Handoff {
			state = flows.State{Seq: state.Seq}
		}
		o := e.flow.Step(state, in)
		if cut {
			o.Replies = append([]flows.Reply{{Text: e.cfg.KB.Msg("too_long")}}, o.Replies...)
		}
		if c.Version == 0 {
			c.Created = now
		}
		c.Key = key
		if m.Address != "" {
			c.Address = m.Address
		}
		c.State = o.State
		c.Updated = now
		turn = Turn{
			Replies:    o.Replies,
			Intent:     res.Intent,
			Confidence: res.Confidence,
			Cause:      o.State.Cause,
			Phase:      o.State.Phase,
			Stale:      o.Stale,
			Outcome:    o.Outcome,
			Turns:      o.State.Turns,
		}
		if o.Handoff != nil {
			turn.Handoff = &Handoff{Key: key, UserName: m.UserName, Address: c.Address, Time: now, Summary: *o.Handoff}
		}
		if len(o.Replies) == 0 {
			return nil, nil
		}
		return []Outgoing{{Key: key, Address: c.Address, Replies: o.Replies, Created: now}}, nil
	})
	if errors.Is(err, ErrDuplicate) {
		e.cfg.Logger.Debug("duplicate message", "key", key.String(), "id", m.ID)
		return Turn{Duplicate: true}, nil
	}
	if err != nil {
		return Turn{}, fmt.Errorf("bot: turn %s: %w", key, err)
	}
	if turn.Handoff != nil && e.cfg.Notifier != nil {
		if err := e.cfg.Notifier.Handoff(ctx, *turn.Handoff); err != nil {
			e.cfg.Logger.Error("hand-off notification failed", "key", key.String(), "err", err)
		}
	}
	return turn, e.deliver(ctx, key.Channel, out)
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

// Redeliver sends the replies that were stored but not delivered (for
// example when the process died between the two), for every channel with
// a registered Sender. Call it at start once the channels are up.
func (e *Engine) Redeliver(ctx context.Context) error {
	e.mu.RLock()
	channels := make([]string, 0, len(e.senders))
	for ch := range e.senders {
		channels = append(channels, ch)
	}
	e.mu.RUnlock()
	var errs []error
	for _, ch := range channels {
		out, err := e.cfg.Store.Pending(ctx, ch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, e.deliver(ctx, ch, out))
	}
	return errors.Join(errs...)
}

// clean makes text safe to process: valid UTF-8, no control characters
// except newlines and tabs, at most MaxText runes. cut reports truncation.
func (e *Engine) clean(s string) (string, bool) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := false
	if utf8.RuneCountInString(s) > e.cfg.MaxText {
		r := []rune(s)
		s, cut = string(r[:e.cfg.MaxText]), true
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	return s, cut
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

// keyedMutex serialises work per key, holding memory only for keys in use.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
