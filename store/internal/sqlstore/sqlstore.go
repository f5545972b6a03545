// Package sqlstore is what the SQL stores (SQLite and PostgreSQL) share
// about tickets: what a new ticket holds, how its JSON columns are
// written and read, and which moves are allowed. Each store keeps its
// own SQL, types and locking.
package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

// NewTicket returns the ticket CreateTicket stores for t: pending, with
// only the fields a creator gives, and a History that starts with its
// pending state at Created.
func NewTicket(t bot.Ticket) bot.Ticket {
	return bot.Ticket{
		Key: t.Key, UserName: t.UserName, Address: t.Address, Reason: t.Reason, Summary: t.Summary,
		State: bot.TicketPending, Created: t.Created, Notes: slices.Clone(t.Notes),
		History: []bot.TicketEvent{{State: bot.TicketPending, Time: t.Created}},
	}
}

// EncodeTicket returns the JSON of a ticket's summary, notes and history
// columns.
func EncodeTicket(t bot.Ticket) (summary, notes, history []byte, err error) {
	if summary, err = json.Marshal(t.Summary); err != nil {
		return nil, nil, nil, err
	}
	if notes, err = JSONList(t.Notes); err != nil {
		return nil, nil, nil, err
	}
	if history, err = JSONList(t.History); err != nil {
		return nil, nil, nil, err
	}
	return summary, notes, history, nil
}

// DecodeTicket fills t's Summary, Notes and History from their columns'
// JSON.
func DecodeTicket(t *bot.Ticket, summary, notes, history []byte) error {
	for _, j := range []struct {
		data []byte
		v    any
	}{{summary, &t.Summary}, {notes, &t.Notes}, {history, &t.History}} {
		if err := json.Unmarshal(j.data, j.v); err != nil {
			return fmt.Errorf("ticket %d: %w", t.ID, err)
		}
	}
	return nil
}

// JSONList marshals a slice as a JSON array, never null.
func JSONList[T any](v []T) ([]byte, error) {
	if v == nil {
		v = []T{}
	}
	return json.Marshal(v)
}

// MoveTicket moves t to state to if it is in one of from, recording the
// move in its History; moving to a state that is not open sets Closed.
// Otherwise it leaves t as it is and returns an error wrapping
// bot.ErrTicketState.
func MoveTicket(t *bot.Ticket, from []bot.TicketState, to bot.TicketState, by string, now time.Time) error {
	if !slices.Contains(from, t.State) {
		return fmt.Errorf("%s → %s: %w", t.State, to, bot.ErrTicketState)
	}
	t.State = to
	if !to.Open() {
		t.Closed = now
	}
	t.History = append(t.History, bot.TicketEvent{State: to, By: by, Time: now})
	return nil
}
