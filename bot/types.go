package bot

import (
	"time"

	"github.com/dmdoctor/dmdoctor/flows"
)

// Message is one thing a user did: wrote text, pressed a button, used a
// command, or sent something that isn't text.
type Message struct {
	// ID is unique per channel and stable across redeliveries (an update
	// or interaction ID); the engine handles each ID once. Empty: no
	// de-duplication.
	ID       string
	Channel  string
	UserID   string
	UserName string  // for people (moderators); may be empty
	Address  Address // where the replies go
	Text     string
	Button   string // ID of a pressed quick-reply button
	Command  string // a flows.Cmd* constant
	NonText  bool   // sticker, photo, voice…
	Time     time.Time
}

// Key returns the conversation the message belongs to.
func (m Message) Key() Key { return Key{Channel: m.Channel, User: m.UserID} }

// Turn is what one message produced.
type Turn struct {
	Replies    []flows.Reply `json:"replies"`
	Intent     string        `json:"intent,omitempty"`
	Confidence float64       `json:"confidence"`
	Cause      string        `json:"cause,omitempty"`
	Phase      flows.Phase   `json:"state"`
	Handoff    *Handoff      `json:"handoff,omitempty"`
	Stale      bool          `json:"stale,omitempty"`
	Outcome    string        `json:"outcome,omitempty"`
	// Turns counts the turns of the conversation so far (channels use it
	// to suggest moving a long group conversation to a private chat).
	Turns int `json:"turns"`
	// Limited is set when the message was dropped by the rate limit.
	Limited bool `json:"limited,omitempty"`
	// Duplicate is set when the message was handled before; Replies is
	// then empty.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Handoff is a conversation handed to a human, with what a moderator needs.
type Handoff struct {
	Key      Key       `json:"key"`
	UserName string    `json:"user_name,omitempty"`
	Address  Address   `json:"address"`
	Time     time.Time `json:"time"`
	flows.Summary
}
