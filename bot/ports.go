package bot

import (
	"context"
	"errors"
	"time"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
)

// Classifier reads the intent of a text.
//
// Classify must be safe for concurrent use, must not panic on any input
// (empty, huge, invalid UTF-8) and must return intents of the knowledge
// base it was trained on, or intents.OutOfScope. *intents.Model satisfies it.
type Classifier interface {
	Classify(text string) intents.Result
}

// Store keeps conversations, the IDs of messages already handled and the
// outbox of replies not yet delivered.
//
// Contract, checked for every implementation by the conformance suite in
// package storetest:
//   - Turn loads the conversation for key (a new one, Version 0, when there
//     is none), calls fn with it, and then saves, in one atomic unit, the
//     conversation as fn left it (Version incremented), the record that
//     msgID was handled, and the outgoing replies fn returned (the outbox,
//     each given an ID). If msgID is not empty and was handled before,
//     Turn returns ErrDuplicate without calling fn. If fn returns an error
//     nothing is saved and Turn returns that error.
//   - Turns of different keys may run concurrently; turns of one key are
//     serialised by the store (the engine also serialises them in-process).
//   - Pending lists the outbox entries not yet marked Delivered, oldest
//     first; Delivered marks one (unknown IDs are not an error).
//   - Get returns ErrNotFound for a key never seen.
//   - Every method honours ctx and is safe for concurrent use.
type Store interface {
	Turn(ctx context.Context, key Key, msgID string, fn func(*Conversation) ([]Outgoing, error)) ([]Outgoing, error)
	Get(ctx context.Context, key Key) (*Conversation, error)
	Pending(ctx context.Context, channel string) ([]Outgoing, error)
	Delivered(ctx context.Context, id int64) error
	Close() error
}

// Sender delivers replies on one channel. Send must honour ctx, retry
// transient failures within a bound, and return an error only when the
// replies could not be delivered. A channel registers its Sender with
// Engine.Register.
type Sender interface {
	Send(ctx context.Context, to Address, replies []flows.Reply) error
}

// Notifier is told when a conversation is handed to a human moderator.
// Handoff must not block for long; it should return an error only when the
// moderators could not be told.
type Notifier interface {
	Handoff(ctx context.Context, h Handoff) error
}

// Errors returned by stores.
var (
	ErrDuplicate = errors.New("message already handled")
	ErrNotFound  = errors.New("not found")
)

// Key identifies one conversation: one user on one channel. In a group
// each user has a conversation of their own; the group is part of the
// Address, not of the Key.
type Key struct {
	Channel string `json:"channel"` // "console", "telegram", "discord"
	User    string `json:"user"`    // the channel's user ID
}

func (k Key) String() string { return k.Channel + ":" + k.User }

// Address is where a conversation's replies go, in the channel's own terms
// (a chat ID and the message to quote, a thread ID…). The engine stores it
// and hands it back to the channel's Sender unread.
type Address string

// Conversation is the stored state of one conversation.
type Conversation struct {
	Key     Key         `json:"key"`
	Address Address     `json:"address"`
	State   flows.State `json:"state"`
	Created time.Time   `json:"created"`
	Updated time.Time   `json:"updated"`
	// Version counts saved turns; durable stores use it as a fencing token.
	Version int64 `json:"version"`
}

// Outgoing is one turn's replies on their way to the user (an outbox
// entry).
type Outgoing struct {
	ID      int64         `json:"id"`
	Key     Key           `json:"key"`
	Address Address       `json:"address"`
	Replies []flows.Reply `json:"replies"`
	Created time.Time     `json:"created"`
}

// Observer is told what happens, for metrics (issue: operations). Every
// method must be cheap, must not block and must be safe for concurrent use.
// Use NopObserver when nothing listens.
type Observer interface {
	// MessageIn counts a user message received on a channel.
	MessageIn(channel string)
	// MessageOut counts a message sent on a channel.
	MessageOut(channel string)
	// APIError counts a failed call to a channel's API (op names the call).
	APIError(channel, op string)
	// Retry counts a retried call to a channel's API.
	Retry(channel string)
	// Undelivered counts a reply that finally could not be delivered.
	Undelivered(channel string)
}

// NopObserver is an Observer that does nothing.
type NopObserver struct{}

func (NopObserver) MessageIn(string)        {}
func (NopObserver) MessageOut(string)       {}
func (NopObserver) APIError(string, string) {}
func (NopObserver) Retry(string)            {}
func (NopObserver) Undelivered(string)      {}
