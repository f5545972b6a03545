package bot

import (
	"context"
	"errors"
	"slices"
	"strings"
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

// Store keeps everything dmdoctor remembers: conversations, the IDs of
// messages already handled, the outbox of replies not yet delivered, a
// bounded transcript per conversation, outcomes, and moderator tickets.
//
// Contract, checked for every implementation (memory, SQLite, PostgreSQL)
// by the conformance suite in package store/storetest:
//
// Turns
//   - Turn loads the conversation for key (a new one, Version 0, when there
//     is none), calls fn with it, and then saves in one atomic unit: the
//     conversation as fn left it (Version incremented by one), the record
//     that msgID was handled, the Change's transcript lines (appended; the
//     transcript keeps only the last TranscriptLimit lines), its outcome
//     (when set) and its outbox entries, each given a unique increasing ID
//     and leased to the caller until now+OutboxLease (now by the store's
//     own clock) so that no other instance delivers them meanwhile. Turn
//     returns the saved outbox entries with their IDs.
//   - When the Change carries a Ticket, the same unit also stores it as a
//     new pending ticket, unless the user already has an open one (then
//     that one is kept), and the saved conversation's Handoff.Ticket holds
//     the new or existing ticket's ID (fn must set Handoff). So a hand-off
//     never exists without its ticket, whenever the process dies.
//   - If msgID is not empty and was handled before for this key's channel,
//     Turn returns ErrDuplicate without calling fn. If fn returns an error,
//     nothing is saved and Turn returns it.
//   - Turns of one key are serialised by the store, across processes for
//     stores shared by several instances; if the stored Version changed
//     between load and save (another instance won), Turn retries or
//     returns ErrConflict — it never overwrites a newer state.
//   - Turns of different keys may run concurrently.
//
// Outbox
//   - ClaimOutbox returns up to limit (no limit when limit <= 0)
//     undelivered entries of a channel whose lease has expired (oldest
//     first) and leases them until now+lease, so that of several instances
//     polling at once only one gets each entry.
//   - Delivered marks an entry delivered; it is never returned again.
//     Unknown IDs are not an error.
//
// Conversations and records
//   - Get returns ErrNotFound for a key never seen (or forgotten).
//   - Transcript returns the kept lines of a conversation, oldest first.
//   - Forget deletes everything kept about a user on a channel: the
//     conversation, transcript, outbox, outcomes, tickets and ratings (the
//     IDs of handled messages, which say nothing about the user, stay so
//     that a redelivery is still recognised). Forgetting a key never seen
//     is not an error.
//   - Purge deletes transcripts and conversations not updated since before,
//     outcomes older than before, and closed tickets created before it; it
//     returns how many conversations it deleted.
//   - Stats summarises what happened since a time (see Stats).
//
// Tickets (moderator hand-off)
//   - CreateTicket stores a new pending ticket unless the user already has
//     an open one (pending or claimed): then it returns that one and false.
//   - ClaimTicket is atomic: of two moderators claiming at once exactly one
//     wins; the other gets ErrClaimed with the ticket (showing who has it).
//     Claiming a ticket that is not pending returns ErrClaimed when it is
//     claimed and ErrTicketClosed otherwise.
//   - MoveTicket changes a ticket's state only from one of the given states
//     (else ErrTicketState with the current ticket), appending to History;
//     moving to a closed state sets Closed.
//   - Tickets are returned with their notes, history, refs and rating.
//
// Every method honours ctx and is safe for concurrent use.
type Store interface {
	Turn(ctx context.Context, key Key, msgID string, fn func(*Conversation) (Change, error)) ([]Outgoing, error)
	ClaimOutbox(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]Outgoing, error)
	Delivered(ctx context.Context, id int64) error

	Get(ctx context.Context, key Key) (*Conversation, error)
	Transcript(ctx context.Context, key Key) ([]Line, error)
	Forget(ctx context.Context, key Key) error
	Purge(ctx context.Context, before time.Time) (int, error)
	Stats(ctx context.Context, since time.Time) (Stats, error)

	CreateTicket(ctx context.Context, t Ticket) (Ticket, bool, error)
	GetTicket(ctx context.Context, id int64) (Ticket, error)
	OpenTicket(ctx context.Context, key Key) (Ticket, error)
	TicketByRef(ctx context.Context, place, ref string) (Ticket, error)
	ListTickets(ctx context.Context, states ...TicketState) ([]Ticket, error)
	ClaimTicket(ctx context.Context, id int64, moderator, name string, now time.Time) (Ticket, error)
	MoveTicket(ctx context.Context, id int64, from []TicketState, to TicketState, by string, now time.Time) (Ticket, error)
	SetTicketRef(ctx context.Context, id int64, place, ref string) error
	AddNote(ctx context.Context, id int64, n Note) error
	RateTicket(ctx context.Context, id int64, rating int, comment string, now time.Time) error

	Close() error
}

// Limits shared by every store.
const (
	// TranscriptLimit is how many transcript lines a conversation keeps.
	TranscriptLimit = 100
	// OutboxLease is how long a turn's own outbox entries stay leased to
	// it before a poller may deliver them.
	OutboxLease = time.Minute
)

// Change is what a turn saves besides the conversation itself.
type Change struct {
	Outbox     []Outgoing
	Transcript []Line
	// Outcome, when set, records how a conversation ended (for stats).
	Outcome *Outcome
	// Ticket, when set, opens a moderator ticket in the same unit (see
	// Store.Turn).
	Ticket *Ticket
}

// Line is one transcript line.
type Line struct {
	Time time.Time `json:"time"`
	From string    `json:"from"` // "user", "bot" or "moderator"
	Text string    `json:"text"`
}

// Transcript line sources.
const (
	FromUser      = "user"
	FromBot       = "bot"
	FromModerator = "moderator"
)

// Outcome is how one conversation ended.
type Outcome struct {
	Kind   string    `json:"kind"`             // flows.OutcomeResolved, flows.OutcomeHandedOff, OutcomeAbandoned
	Cause  string    `json:"cause,omitempty"`  // the cause in focus (resolved) or first detected
	Reason string    `json:"reason,omitempty"` // hand-off reason
	Time   time.Time `json:"time"`
}

// OutcomeAbandoned records a conversation that expired unfinished.
const OutcomeAbandoned = "abandoned"

// Stats summarises activity since a time.
type Stats struct {
	Since         time.Time      `json:"since"`
	Conversations int            `json:"conversations"` // conversations created since
	Outcomes      map[string]int `json:"outcomes"`      // outcome kind → count
	// Deflection is the share of ended conversations resolved by the
	// assistant without a human: resolved / (resolved + handed_off + abandoned).
	Deflection  float64        `json:"deflection"`
	Handoffs    map[string]int `json:"handoffs"`     // tickets by reason
	MedianClaim time.Duration  `json:"median_claim"` // created → claimed, over claimed tickets
	TopCauses   []CauseCount   `json:"top_causes"`   // from outcomes, most first
	Ratings     int            `json:"ratings"`      // how many ratings
	AvgRating   float64        `json:"avg_rating"`   // 0 when none
	OpenTickets int            `json:"open_tickets"` // pending or claimed now
}

// CauseCount is one cause and how often it was the cause of an outcome.
type CauseCount struct {
	Cause string `json:"cause"`
	Count int    `json:"count"`
}

// TicketState is where a moderator ticket stands.
type TicketState string

// Ticket states: pending → claimed → resolved | returned; pending → expired.
const (
	TicketPending  TicketState = "pending"
	TicketClaimed  TicketState = "claimed"
	TicketResolved TicketState = "resolved"
	TicketReturned TicketState = "returned"
	TicketExpired  TicketState = "expired"
)

// Open reports whether the ticket still waits for or has a moderator.
func (s TicketState) Open() bool { return s == TicketPending || s == TicketClaimed }

// Ticket is a conversation handed to human moderators.
type Ticket struct {
	ID       int64         `json:"id"`
	Key      Key           `json:"key"`
	UserName string        `json:"user_name,omitempty"`
	Address  Address       `json:"address"`
	Reason   string        `json:"reason"`
	Summary  flows.Summary `json:"summary"`
	State    TicketState   `json:"state"`
	// Moderator is who claimed it ("discord:123"), Name their display name.
	Moderator     string    `json:"moderator,omitempty"`
	ModeratorName string    `json:"moderator_name,omitempty"`
	Created       time.Time `json:"created"`
	Claimed       time.Time `json:"claimed,omitempty"`
	Closed        time.Time `json:"closed,omitempty"`
	// Refs says where the ticket is shown in each moderators' place
	// ("telegram" → chat and message, "discord" → channel, message, thread).
	Refs    map[string]string `json:"refs,omitempty"`
	Notes   []Note            `json:"notes,omitempty"`
	History []TicketEvent     `json:"history,omitempty"`
	Rating  int               `json:"rating,omitempty"` // 1–5, 0 when not rated
	Comment string            `json:"comment,omitempty"`
}

// Note is a moderator's private note on a ticket.
type Note struct {
	By   string    `json:"by"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// TicketEvent is one change of a ticket's state.
type TicketEvent struct {
	State TicketState `json:"state"`
	By    string      `json:"by,omitempty"`
	Time  time.Time   `json:"time"`
}

// Sender delivers replies on one channel. Send must honour ctx, retry
// transient failures within a bound, and return an error only when the
// replies could not be delivered. A channel registers its Sender with
// Engine.Register.
type Sender interface {
	Send(ctx context.Context, to Address, replies []flows.Reply) error
}

// ModPlace is a moderators' place: where moderators see and work the
// hand-off tickets (a Discord channel, a Telegram group, the terminal).
// Texts come rendered by the engine as plain text; the place escapes them
// for its medium. Methods must honour ctx and be safe for concurrent use.
type ModPlace interface {
	// Name identifies the place ("discord", "telegram", "console"); it
	// keys Ticket.Refs.
	Name() string
	// Post shows a new ticket and returns a reference to where it is shown
	// (for example a chat and message ID); moderators' replies there are
	// matched to the ticket by it.
	Post(ctx context.Context, t Ticket, v TicketView) (ref string, err error)
	// Update shows a ticket's new state where it was posted (ref).
	Update(ctx context.Context, t Ticket, ref string, v TicketView) error
	// Notify shows a line about a ticket next to it: a user's message, a
	// message left for later, a rating.
	Notify(ctx context.Context, t Ticket, ref string, text string) error
}

// TicketView is a ticket rendered for moderators: text and buttons.
type TicketView struct {
	Text    string
	Buttons []flows.Button
}

// Errors returned by stores.
var (
	ErrDuplicate    = errors.New("message already handled")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conversation changed by another instance")
	ErrClaimed      = errors.New("ticket already claimed")
	ErrTicketClosed = errors.New("ticket is closed")
	ErrTicketState  = errors.New("ticket is not in a state that allows this")
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
	// Handoff is set while the conversation is with the moderators (or
	// the user is rating their help); the assistant's flow is then paused.
	Handoff *HandoffState `json:"handoff,omitempty"`
}

// HandoffState is where a conversation stands with the moderators.
type HandoffState struct {
	Ticket    int64  `json:"ticket"`              // 0 until the ticket is created
	Mode      string `json:"mode"`                // a Mode* constant
	Moderator string `json:"moderator,omitempty"` // display name of who claimed it
	Rating    int    `json:"rating,omitempty"`
}

// Hand-off modes of a conversation.
const (
	ModePending  = "pending"       // waiting for a moderator
	ModeClaimed  = "claimed"       // a moderator is talking with the user
	ModeExpired  = "expired"       // nobody claimed in time: leave a message or go on?
	ModeLeaveMsg = "leave_message" // the next text is left for the moderators
	ModeRating   = "rating"        // resolved: 1–5?
	ModeComment  = "comment"       // rated: a comment?
)

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

// ErrBadRating is returned for a rating outside 1–5.
var ErrBadRating = errors.New("rating must be 1 to 5")

// FinishStats computes the derived figures of a Stats from the raw counts
// every store gathers: causes (cause → outcomes), the claim delays, and
// the sum of ratings.
func FinishStats(st *Stats, causes map[string]int, claims []time.Duration, ratingSum int) {
	ended := st.Outcomes[flows.OutcomeResolved] + st.Outcomes[flows.OutcomeHandedOff] + st.Outcomes[OutcomeAbandoned]
	if ended > 0 {
		st.Deflection = float64(st.Outcomes[flows.OutcomeResolved]) / float64(ended)
	}
	if len(claims) > 0 {
		slices.Sort(claims)
		n := len(claims)
		if n%2 == 1 {
			st.MedianClaim = claims[n/2]
		} else {
			st.MedianClaim = (claims[n/2-1] + claims[n/2]) / 2
		}
	}
	for c, n := range causes {
		st.TopCauses = append(st.TopCauses, CauseCount{Cause: c, Count: n})
	}
	slices.SortFunc(st.TopCauses, func(a, b CauseCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Cause, b.Cause)
	})
	if st.Ratings > 0 {
		st.AvgRating = float64(ratingSum) / float64(st.Ratings)
	}
}
