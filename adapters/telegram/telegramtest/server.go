package telegramtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// DefaultToken is the bot token a Server accepts unless told another. It
// looks like a real one, so that a test can search logs for it.
const DefaultToken = "123456:AAHtestTOKEN-do_not_LOG"

// DefaultWaitTimeout bounds Server.WaitFor unless Server.WaitTimeout says
// otherwise.
const DefaultWaitTimeout = 5 * time.Second

// Server is a fake Telegram Bot API server. Create it with New; it closes
// itself when the test ends.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port): the API URL
	// to give the client (requests go to URL/bot<token>/<method>).
	URL string
	// Token is the only bot token accepted; other tokens get 401.
	Token string
	// Me is the bot itself, as getMe answers. Change it before the client
	// connects.
	Me User
	// WaitTimeout bounds WaitFor and the Wait helpers (default
	// DefaultWaitTimeout). Set it before waiting.
	WaitTimeout time.Duration

	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	calls     []Call        // successful calls, in order
	attempts  map[string]int
	stalled   map[string]int // calls held back by a fault now
	updates   []update       // not yet confirmed by an offset
	redeliver []update       // handed out once more, whatever the offset
	pushed    map[int]update
	handed    map[int]int // update ID → times handed out by getUpdates
	sent      []int       // IDs of the messages the bot sent
	nextID    int         // update IDs
	nextMsg   int         // message IDs
	messages  map[int]map[string]any
	keyboard  map[int]bool // message ID → has an inline keyboard
	faults    map[string][]Fault
	polling   int                              // getUpdates requests open now
	cancelled int                              // getUpdates requests abandoned by the client
	forums    map[int64]bool                   // chats with topics
	admins    map[int64]map[int64]User         // chat → its administrators
	statuses  map[int64]map[int64]string       // chat → user → creator/administrator
	topics    map[int64]map[int]map[string]any // chat → thread → the topic's creation message
}

// Call is one successful API call.
type Call struct {
	Method string
	Params url.Values
}

type update struct {
	ID  int
	Raw json.RawMessage
}

// User is a Telegram user (or bot).
type User struct {
	ID       int64
	First    string
	UserName string
	IsBot    bool
}

// JSON is the user as the Bot API describes it.
func (u User) JSON() map[string]any {
	m := map[string]any{"id": u.ID, "is_bot": u.IsBot, "first_name": u.First}
	if u.UserName != "" {
		m["username"] = u.UserName
	}
	return m
}

// Fault is what the server does instead of answering a call normally.
// With only Delay or Until set, the call is answered normally afterwards.
type Fault struct {
	Status      int    // error_code to answer with
	Description string // its description
	RetryAfter  int    // parameters.retry_after (429)
	MigrateTo   int64  // parameters.migrate_to_chat_id
	// Delay answers this late.
	Delay time.Duration
	// Until holds the answer back until the channel is closed or the
	// client gives up (its connection closes, for example because its
	// process was killed). A held getUpdates has not confirmed its offset.
	Until <-chan struct{}
	// Hangup drops the connection without an answer.
	Hangup bool
	// Match, when set, picks the calls the fault applies to (by their
	// parameters); other calls pass it by.
	Match func(url.Values) bool
}

// New starts a fake Bot API server on loopback; it closes when the test
// ends.
func New(t testing.TB) *Server {
	f := &Server{
		Token:    DefaultToken,
		Me:       User{ID: 999, First: "DM Doctor", UserName: "dmdoctor_bot", IsBot: true},
		t:        t,
		changed:  make(chan struct{}),
		attempts: map[string]int{},
		stalled:  map[string]int{},
		nextID:   100,
		nextMsg:  1000,
		messages: map[int]map[string]any{},
		pushed:   map[int]update{},
		handed:   map[int]int{},
		keyboard: map[int]bool{},
		faults:   map[string][]Fault{},
		forums:   map[int64]bool{},
		admins:   map[int64]map[int64]User{},
		statuses: map[int64]map[int64]string{},
		topics:   map[int64]map[int]map[string]any{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// Close shuts the server down: every later call is a network error.
func (f *Server) Close() { f.srv.Close() }

func (f *Server) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Fail makes the next n calls of method (those ft.Match picks, when set)
// meet ft.
func (f *Server) Fail(method string, n int, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[method] = append(f.faults[method], ft)
	}
}

func (f *Server) takeFault(method string, p url.Values) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.faults[method]
	for i, ft := range q {
		if ft.Match == nil || ft.Match(p) {
			f.faults[method] = slices.Delete(q, i, i+1)
			return ft, true
		}
	}
	return Fault{}, false
}

// hold waits out a fault's Delay and Until; false when the client gave up.
func (f *Server) hold(r *http.Request, method string, ft Fault) bool {
	if ft.Delay <= 0 && ft.Until == nil {
		return true
	}
	f.mu.Lock()
	f.stalled[method]++
	f.notifyLocked()
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.stalled[method]--
		f.notifyLocked()
		f.mu.Unlock()
	}()
	var delay <-chan time.Time
	if ft.Delay > 0 {
		t := time.NewTimer(ft.Delay)
		defer t.Stop()
		delay = t.C
	}
	select {
	case <-delay:
	case <-ft.Until:
	case <-r.Context().Done():
		return false
	}
	if ft.Delay > 0 && ft.Until != nil { // both: wait for the other too
		select {
		case <-ft.Until:
		case <-delay:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || token != f.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: " + err.Error()})
		return
	}
	f.mu.Lock()
	f.attempts[method]++
	f.notifyLocked()
	f.mu.Unlock()
	if ft, ok := f.takeFault(method, r.PostForm); ok {
		if !f.hold(r, method, ft) {
			return
		}
		if ft.Hangup {
			hj, _ := w.(http.Hijacker)
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if ft.Status != 0 {
			params := map[string]any{}
			if ft.RetryAfter != 0 {
				params["retry_after"] = ft.RetryAfter
			}
			if ft.MigrateTo != 0 {
				params["migrate_to_chat_id"] = ft.MigrateTo
			}
			body := map[string]any{"ok": false, "error_code": ft.Status, "description": ft.Description}
			if len(params) > 0 {
				body["parameters"] = params
			}
			writeJSON(w, ft.Status, body)
			return
		}
	}
	if r.Context().Err() != nil {
		return
	}
	if method == "getUpdates" {
		f.getUpdates(w, r)
		return
	}
	result, errCode, desc := f.apply(method, r.PostForm)
	if errCode != 0 {
		writeJSON(w, errCode, map[string]any{"ok": false, "error_code": errCode, "description": desc})
		return
	}
	writeJSON(w, 200, map[string]any{"ok": true, "result": result})
}

// apply answers a call other than getUpdates and records it.
func (f *Server) apply(method string, p url.Values) (any, int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notifyLocked()
	var result any = true
	switch method {
	case "getMe":
		result = f.Me.JSON()
	case "sendMessage":
		chat, _ := strconv.ParseInt(p.Get("chat_id"), 10, 64)
		if p.Get("text") == "" {
			return nil, 400, "Bad Request: message text is empty"
		}
		thread, _ := strconv.Atoi(p.Get("message_thread_id"))
		if thread != 0 && f.forums[chat] && f.topics[chat][thread] == nil {
			return nil, 400, "Bad Request: message thread not found"
		}
		f.nextMsg++
		m := map[string]any{
			"message_id": f.nextMsg, "date": time.Now().Unix(), "from": f.Me.JSON(),
			"chat": f.chatJSON(chat), "text": HTMLText(p.Get("text")),
		}
		if e := boldHead(p.Get("text")); e != nil {
			m["entities"] = []any{e}
		}
		if rm := p.Get("reply_markup"); rm != "" {
			m["reply_markup"] = json.RawMessage(rm)
			f.keyboard[f.nextMsg] = true
		}
		if thread != 0 && f.forums[chat] {
			m["message_thread_id"], m["is_topic_message"] = thread, true
			m["reply_to_message"] = f.topics[chat][thread]
		}
		if q, _ := strconv.Atoi(p.Get("reply_to_message_id")); q != 0 && f.messages[q] != nil {
			m["reply_to_message"] = f.messages[q]
		}
		f.messages[f.nextMsg] = m
		f.sent = append(f.sent, f.nextMsg)
		result = m
	case "editMessageText":
		id, _ := strconv.Atoi(p.Get("message_id"))
		m := f.messages[id]
		if m == nil {
			return nil, 400, "Bad Request: message to edit not found"
		}
		text, markup := HTMLText(p.Get("text")), p.Get("reply_markup")
		old, _ := m["reply_markup"].(json.RawMessage)
		if m["text"] == text && string(old) == markup {
			return nil, 400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
		}
		m["text"] = text
		if e := boldHead(p.Get("text")); e != nil {
			m["entities"] = []any{e}
		}
		f.keyboard[id] = markup != "" && !strings.Contains(markup, `"inline_keyboard":[]`)
		if f.keyboard[id] {
			m["reply_markup"] = json.RawMessage(markup)
		} else {
			delete(m, "reply_markup")
		}
		result = m
	case "getChat":
		chat, _ := strconv.ParseInt(p.Get("chat_id"), 10, 64)
		result = f.chatJSON(chat)
	case "getChatAdministrators":
		chat, _ := strconv.ParseInt(p.Get("chat_id"), 10, 64)
		if chat > 0 {
			return nil, 400, "Bad Request: there are no administrators in the private chat"
		}
		var list []any
		for id, u := range f.admins[chat] {
			list = append(list, map[string]any{"user": u.JSON(), "status": f.statuses[chat][id]})
		}
		result = list
	case "createForumTopic":
		chat, _ := strconv.ParseInt(p.Get("chat_id"), 10, 64)
		if !f.forums[chat] {
			return nil, 400, "Bad Request: the chat is not a forum"
		}
		f.nextMsg++
		created := map[string]any{
			"message_id": f.nextMsg, "date": time.Now().Unix(), "from": f.Me.JSON(), "chat": f.chatJSON(chat),
			"message_thread_id": f.nextMsg, "is_topic_message": true,
			"forum_topic_created": map[string]any{"name": p.Get("name"), "icon_color": 7322096},
		}
		f.messages[f.nextMsg] = created
		if f.topics[chat] == nil {
			f.topics[chat] = map[int]map[string]any{}
		}
		f.topics[chat][f.nextMsg] = created
		result = map[string]any{"message_thread_id": f.nextMsg, "name": p.Get("name"), "icon_color": 7322096}
	case "editMessageReplyMarkup":
		id, _ := strconv.Atoi(p.Get("message_id"))
		if !f.keyboard[id] && p.Get("reply_markup") == "" {
			return nil, 400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
		}
		f.keyboard[id] = p.Get("reply_markup") != ""
		if m := f.messages[id]; m != nil {
			delete(m, "reply_markup")
			result = m
		}
	case "answerCallbackQuery", "setMyCommands", "sendChatAction", "setWebhook", "deleteWebhook":
	default:
		return nil, 404, "Not Found: method not found"
	}
	f.calls = append(f.calls, Call{Method: method, Params: p})
	// The result may be a stored message that later calls change: encode
	// it now, under the lock.
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, 500, err.Error()
	}
	return json.RawMessage(raw), 0, ""
}

// getUpdates answers like the Bot API: a call with an offset confirms
// every update below it (they are never handed out again); the updates
// not yet confirmed are returned at once, or when one arrives within the
// call's timeout (a long poll).
func (f *Server) getUpdates(w http.ResponseWriter, r *http.Request) {
	offset, _ := strconv.Atoi(r.PostForm.Get("offset"))
	timeout, _ := strconv.Atoi(r.PostForm.Get("timeout"))
	deadline := time.NewTimer(time.Duration(timeout) * time.Second)
	defer deadline.Stop()
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: "getUpdates", Params: r.PostForm})
	f.polling++
	f.notifyLocked()
	defer func() {
		f.polling--
		f.notifyLocked()
		f.mu.Unlock()
	}()
	for {
		if offset > 0 { // confirmed
			f.updates = slices.DeleteFunc(f.updates, func(u update) bool { return u.ID < offset })
		}
		batch := slices.Concat(f.redeliver, f.updates)
		f.redeliver = nil
		if len(batch) > 0 || timeout == 0 {
			raws := make([]json.RawMessage, len(batch))
			for i, u := range batch {
				raws[i] = u.Raw
				f.handed[u.ID]++
			}
			writeJSON(w, 200, map[string]any{"ok": true, "result": raws})
			return
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
		case <-deadline.C:
			f.mu.Lock()
			writeJSON(w, 200, map[string]any{"ok": true, "result": []any{}})
			return
		case <-r.Context().Done():
			f.mu.Lock()
			f.cancelled++
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ChatJSON is a chat as the Bot API describes it: a private chat for a
// positive ID, a supergroup for a negative one.
func ChatJSON(id int64) map[string]any {
	if id > 0 {
		return map[string]any{"id": id, "type": "private", "first_name": "User"}
	}
	return map[string]any{"id": id, "type": "supergroup", "title": "TikTok help"}
}

// chatJSON is a chat as the server describes it, topics included.
func (f *Server) chatJSON(id int64) map[string]any {
	c := ChatJSON(id)
	if f.forums[id] {
		c["is_forum"] = true
	}
	return c
}

// boldHead is the bold entity of an HTML text that opens with <b>…</b>.
func boldHead(s string) map[string]any {
	rest, ok := strings.CutPrefix(s, "<b>")
	head, _, ok2 := strings.Cut(rest, "</b>")
	if !ok || !ok2 {
		return nil
	}
	return map[string]any{"type": "bold", "offset": 0, "length": len(utf16.Encode([]rune(HTMLText(head))))}
}

// HTMLText is what Telegram shows for an HTML text (entities decoded,
// tags dropped), enough for tests.
func HTMLText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '<' {
			if j := strings.IndexByte(s[i:], '>'); j >= 0 {
				i += j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#34;", `"`, "&#39;", "'", "&amp;", "&").Replace(b.String())
}
