package telegramtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Calls returns the successful calls, in order.
func (f *Server) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsTo returns the parameters of the successful calls of a method.
func (f *Server) CallsTo(method string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c.Params)
		}
	}
	return out
}

// AttemptsOf counts the calls of a method that reached the server,
// failed ones included.
func (f *Server) AttemptsOf(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[method]
}

// Stalled counts the calls of a method held back by a fault's Delay or
// Until now.
func (f *Server) Stalled(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stalled[method]
}

// Polling counts the getUpdates calls open now.
func (f *Server) Polling() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polling
}

// Cancelled counts the getUpdates calls the client gave up.
func (f *Server) Cancelled() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancelled
}

// Handed counts the times getUpdates handed out an update.
func (f *Server) Handed(updateID int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handed[updateID]
}

// Unconfirmed returns the IDs of the updates no getUpdates offset has
// confirmed yet.
func (f *Server) Unconfirmed() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]int, len(f.updates))
	for i, u := range f.updates {
		ids[i] = u.ID
	}
	return ids
}

// Msg returns a copy of a message the server knows (nil when unknown).
func (f *Server) Msg(id int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, _ := clone(f.messages[id]).(map[string]any)
	return m
}

// clone copies the maps and slices of a JSON-like value, keeping the
// types of its leaves.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = clone(e)
		}
		return s
	case []map[string]any:
		s := make([]map[string]any, len(x))
		for i, e := range x {
			s[i] = maps.Clone(e)
		}
		return s
	case json.RawMessage:
		return slices.Clone(x)
	}
	return v
}

// SentText is the text of a message as the user sees it.
func (f *Server) SentText(id int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _ := f.messages[id]["text"].(string)
	return s
}

// LastSent is the ID of the last message the bot sent (0 for none).
func (f *Server) LastSent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return 0
	}
	return f.sent[len(f.sent)-1]
}

// Sent is a message the bot sent, as it stands now.
type Sent struct {
	ID      int
	Chat    int64
	Text    string   // as the user sees it
	Buttons []string // callback data of its keyboard, if it still has one
}

// SentTo returns the messages the bot sent to chat, oldest first.
func (f *Server) SentTo(chat int64) []Sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Sent
	for _, id := range f.sent {
		m := f.messages[id]
		if chatID(m) != chat {
			continue
		}
		text, _ := m["text"].(string)
		out = append(out, Sent{ID: id, Chat: chat, Text: text, Buttons: f.buttonsLocked(id)})
	}
	return out
}

func chatID(m map[string]any) int64 {
	c, _ := m["chat"].(map[string]any)
	id, _ := c["id"].(int64)
	return id
}

// Buttons returns the callback data of a message's keyboard (nil when it
// has none).
func (f *Server) Buttons(id int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buttonsLocked(id)
}

func (f *Server) buttonsLocked(id int) []string {
	raw, ok := f.messages[id]["reply_markup"].(json.RawMessage)
	if !ok || !f.keyboard[id] {
		return nil
	}
	var mk struct {
		InlineKeyboard [][]struct {
			Data string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	json.Unmarshal(raw, &mk)
	var data []string
	for _, row := range mk.InlineKeyboard {
		for _, b := range row {
			data = append(data, b.Data)
		}
	}
	return data
}

// LastKeyboard returns the ID of the last message sent to user (in their
// private chat, or quoting them in a group) that still has a keyboard,
// and its buttons' callback data.
func (f *Server) LastKeyboard(user int64) (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := 0
	for id, has := range f.keyboard {
		if has && id > best && isFor(f.messages[id], user) {
			best = id
		}
	}
	if best == 0 {
		return 0, nil
	}
	return best, f.buttonsLocked(best)
}

func isFor(m map[string]any, user int64) bool {
	if chatID(m) == user {
		return true
	}
	q, _ := m["reply_to_message"].(map[string]any)
	if q == nil {
		return false
	}
	from, _ := q["from"].(map[string]any)
	id, _ := from["id"].(int64)
	return id == user
}

// --- Waiting -------------------------------------------------------------

// WaitFor waits until cond holds (checked after every change of the
// server's state, and every 20ms) or fails the test after WaitTimeout.
// cond is called without the server's lock: it may use every method.
func (f *Server) WaitFor(what string, cond func() bool) {
	f.t.Helper()
	timeout := f.WaitTimeout
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			f.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// WaitCalls waits until method was called successfully n times and
// returns those calls.
func (f *Server) WaitCalls(method string, n int) []url.Values {
	f.t.Helper()
	f.WaitFor(fmt.Sprintf("%d %s calls", n, method), func() bool { return len(f.CallsTo(method)) >= n })
	return f.CallsTo(method)
}

// WaitMsg waits for a message of the bot in chat whose text (as shown)
// contains s, and returns the newest such message's ID.
func (f *Server) WaitMsg(chat int64, s string) int {
	f.t.Helper()
	id := 0
	f.WaitFor(fmt.Sprintf("a message in chat %d saying %q", chat, s), func() bool {
		for _, m := range f.SentTo(chat) {
			if strings.Contains(m.Text, s) {
				id = m.ID
			}
		}
		return id != 0
	})
	return id
}

// WaitText waits until message id says s.
func (f *Server) WaitText(id int, s string) {
	f.t.Helper()
	f.WaitFor(fmt.Sprintf("message %d to say %q", id, s), func() bool {
		return strings.Contains(f.SentText(id), s)
	})
}

// SendCall returns the sendMessage call that sent message id's text.
func (f *Server) SendCall(id int) url.Values {
	f.t.Helper()
	text := f.SentText(id)
	for _, p := range f.CallsTo("sendMessage") {
		if HTMLText(p.Get("text")) == text {
			return p
		}
	}
	f.t.Fatalf("no sendMessage call for message %d", id)
	return nil
}

// WaitAnswer waits for the answer to callback query q and returns it.
func (f *Server) WaitAnswer(q string) url.Values {
	f.t.Helper()
	var got url.Values
	f.WaitFor("the answer to "+q, func() bool {
		for _, p := range f.CallsTo("answerCallbackQuery") {
			if p.Get("callback_query_id") == q {
				got = p
				return true
			}
		}
		return false
	})
	return got
}
