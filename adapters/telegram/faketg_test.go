package telegram

import (
	"encoding/json"
	"fmt"
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

// fakeTG is a fake Telegram Bot API server on loopback. It speaks the
// real wire format (form-encoded requests, {"ok":…,"result":…} answers),
// keeps an update queue with getUpdates offset and long-poll semantics,
// records every call, and injects faults: 429 with retry_after, 5xx, 403,
// slow answers, dropped connections, and updates delivered twice.
type fakeTG struct {
	t     testing.TB
	token string
	srv   *httptest.Server
	me    fakeUser

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	calls     []fakeCall    // successful calls, in order
	attempts  map[string]int
	updates   []fakeUpdate // not yet confirmed by an offset
	redeliver []fakeUpdate // handed out once more, whatever the offset
	pushed    map[int]fakeUpdate
	sent      []int // IDs of the messages the bot sent
	nextID    int   // update IDs
	nextMsg   int   // message IDs
	messages  map[int]map[string]any
	keyboard  map[int]bool // message ID → has an inline keyboard
	faults    map[string][]fault
	polling   int                              // getUpdates requests open now
	cancelled int                              // getUpdates requests abandoned by the client
	forums    map[int64]bool                   // chats with topics
	admins    map[int64]map[int64]fakeUser     // chat → its administrators
	statuses  map[int64]map[int64]string       // chat → user → creator/administrator
	topics    map[int64]map[int]map[string]any // chat → thread → the topic's creation message
}

type fakeCall struct {
	Method string
	Params url.Values
}

type fakeUpdate struct {
	ID  int
	Raw json.RawMessage
}

type fakeUser struct {
	ID       int64
	First    string
	UserName string
	IsBot    bool
}

func (u fakeUser) json() map[string]any {
	m := map[string]any{"id": u.ID, "is_bot": u.IsBot, "first_name": u.First}
	if u.UserName != "" {
		m["username"] = u.UserName
	}
	return m
}

// fault is what the server does instead of answering normally.
type fault struct {
	status      int           // error_code to answer with
	description string        // its description
	retryAfter  int           // parameters.retry_after (429)
	migrateTo   int64         // parameters.migrate_to_chat_id
	delay       time.Duration // answer this late (then normally, unless status is set)
	hangup      bool          // drop the connection without an answer
}

const fakeToken = "123456:AAHtestTOKEN-do_not_LOG"

func newFakeTG(t testing.TB) *fakeTG {
	f := &fakeTG{
		t:        t,
		token:    fakeToken,
		me:       fakeUser{ID: 999, First: "DM Doctor", UserName: "dmdoctor_bot", IsBot: true},
		changed:  make(chan struct{}),
		attempts: map[string]int{},
		nextID:   100,
		nextMsg:  1000,
		messages: map[int]map[string]any{},
		pushed:   map[int]fakeUpdate{},
		keyboard: map[int]bool{},
		faults:   map[string][]fault{},
		forums:   map[int64]bool{},
		admins:   map[int64]map[int64]fakeUser{},
		statuses: map[int64]map[int64]string{},
		topics:   map[int64]map[int]map[string]any{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTG) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fail makes the next n calls of method fail with ft.
func (f *fakeTG) fail(method string, n int, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[method] = append(f.faults[method], ft)
	}
}

func (f *fakeTG) takeFault(method string) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.faults[method]
	if len(q) == 0 {
		return fault{}, false
	}
	f.faults[method] = q[1:]
	return q[0], true
}

func (f *fakeTG) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || token != f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: " + err.Error()})
		return
	}
	f.mu.Lock()
	f.attempts[method]++
	f.mu.Unlock()
	if ft, ok := f.takeFault(method); ok {
		if ft.delay > 0 {
			select {
			case <-time.After(ft.delay):
			case <-r.Context().Done():
				return
			}
		}
		if ft.hangup {
			hj, _ := w.(http.Hijacker)
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if ft.status != 0 {
			params := map[string]any{}
			if ft.retryAfter != 0 {
				params["retry_after"] = ft.retryAfter
			}
			if ft.migrateTo != 0 {
				params["migrate_to_chat_id"] = ft.migrateTo
			}
			body := map[string]any{"ok": false, "error_code": ft.status, "description": ft.description}
			if len(params) > 0 {
				body["parameters"] = params
			}
			writeJSON(w, ft.status, body)
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
func (f *fakeTG) apply(method string, p url.Values) (any, int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notifyLocked()
	var result any = true
	switch method {
	case "getMe":
		result = f.me.json()
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
			"message_id": f.nextMsg, "date": time.Now().Unix(), "from": f.me.json(),
			"chat": f.chatJSON(chat), "text": htmlText(p.Get("text")),
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
		text, markup := htmlText(p.Get("text")), p.Get("reply_markup")
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
			list = append(list, map[string]any{"user": u.json(), "status": f.statuses[chat][id]})
		}
		result = list
	case "createForumTopic":
		chat, _ := strconv.ParseInt(p.Get("chat_id"), 10, 64)
		if !f.forums[chat] {
			return nil, 400, "Bad Request: the chat is not a forum"
		}
		f.nextMsg++
		created := map[string]any{
			"message_id": f.nextMsg, "date": time.Now().Unix(), "from": f.me.json(), "chat": f.chatJSON(chat),
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
	f.calls = append(f.calls, fakeCall{Method: method, Params: p})
	return result, 0, ""
}

func (f *fakeTG) getUpdates(w http.ResponseWriter, r *http.Request) {
	offset, _ := strconv.Atoi(r.PostForm.Get("offset"))
	timeout, _ := strconv.Atoi(r.PostForm.Get("timeout"))
	deadline := time.After(time.Duration(timeout) * time.Second)
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{Method: "getUpdates", Params: r.PostForm})
	f.polling++
	f.notifyLocked()
	defer func() {
		f.polling--
		f.notifyLocked()
		f.mu.Unlock()
	}()
	for {
		if offset > 0 { // confirmed
			f.updates = slices.DeleteFunc(f.updates, func(u fakeUpdate) bool { return u.ID < offset })
		}
		batch := append(f.redeliver, f.updates...)
		f.redeliver = nil
		if len(batch) > 0 || timeout == 0 {
			raws := make([]json.RawMessage, len(batch))
			for i, u := range batch {
				raws[i] = u.Raw
			}
			writeJSON(w, 200, map[string]any{"ok": true, "result": raws})
			return
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
		case <-deadline:
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

func chatJSON(id int64) map[string]any {
	if id > 0 {
		return map[string]any{"id": id, "type": "private", "first_name": "User"}
	}
	return map[string]any{"id": id, "type": "supergroup", "title": "TikTok help"}
}

// chatJSON is a chat as the server describes it, topics included.
func (f *fakeTG) chatJSON(id int64) map[string]any {
	c := chatJSON(id)
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
	return map[string]any{"type": "bold", "offset": 0, "length": len(utf16.Encode([]rune(htmlText(head))))}
}

// htmlText is what Telegram shows for an HTML text (entities decoded,
// tags dropped), enough for tests.
func htmlText(s string) string {
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

// --- Updates -----------------------------------------------------------

// push queues an update (kind → object) and returns its update_id.
func (f *fakeTG) push(kind string, obj map[string]any) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	raw, err := json.Marshal(map[string]any{"update_id": f.nextID, kind: obj})
	if err != nil {
		f.t.Fatal(err)
	}
	f.updates = append(f.updates, fakeUpdate{ID: f.nextID, Raw: raw})
	f.pushed[f.nextID] = fakeUpdate{ID: f.nextID, Raw: raw}
	f.notifyLocked()
	return f.nextID
}

// again hands out an update once more, even though it was confirmed.
func (f *fakeTG) again(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redeliver = append(f.redeliver, f.pushed[id])
	f.notifyLocked()
}

// raw returns an update as JSON (for webhook posts).
func (f *fakeTG) raw(id int) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pushed[id].Raw
}

// message builds a message from a user in a chat; entities are made the
// way Telegram makes them (bot_command at the start, @mentions).
func (f *fakeTG) message(chat int64, from fakeUser, text string) map[string]any {
	f.mu.Lock()
	f.nextMsg++
	id := f.nextMsg
	f.mu.Unlock()
	m := map[string]any{"message_id": id, "date": time.Now().Unix(), "chat": chatJSON(chat), "from": from.json()}
	if text != "" {
		m["text"] = text
		if e := entities(text); len(e) > 0 {
			m["entities"] = e
		}
	}
	f.mu.Lock()
	f.messages[id] = m
	f.mu.Unlock()
	return m
}

func entities(text string) []map[string]any {
	var out []map[string]any
	units := utf16.Encode([]rune(text))
	for i := 0; i < len(units); i++ {
		c := units[i]
		if (c == '/' && i == 0) || (c == '@' && (i == 0 || units[i-1] == ' ')) {
			j := i + 1
			for j < len(units) && (units[j] == '_' || units[j] == '@' && c == '/' || units[j] < 128 && isNameByte(byte(units[j]))) {
				j++
			}
			if j > i+1 {
				typ := "mention"
				if c == '/' {
					typ = "bot_command"
				}
				out = append(out, map[string]any{"type": typ, "offset": i, "length": j - i})
			}
			i = j
		}
	}
	return out
}

// text pushes a text message and returns its update ID.
func (f *fakeTG) text(chat int64, from fakeUser, text string) int {
	return f.push("message", f.message(chat, from, text))
}

// replyTo pushes a text that replies to message replyTo.
func (f *fakeTG) replyTo(chat int64, from fakeUser, replyTo int, text string) int {
	m := f.message(chat, from, text)
	f.mu.Lock()
	m["reply_to_message"] = f.messages[replyTo]
	f.mu.Unlock()
	return f.push("message", m)
}

// admin makes user an administrator (or the creator) of chat.
func (f *fakeTG) admin(chat int64, user fakeUser, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.admins[chat] == nil {
		f.admins[chat], f.statuses[chat] = map[int64]fakeUser{}, map[int64]string{}
	}
	f.admins[chat][user.ID], f.statuses[chat][user.ID] = user, status
}

// forum gives chat topics.
func (f *fakeTG) forum(chat int64) {
	f.mu.Lock()
	f.forums[chat] = true
	f.mu.Unlock()
}

// inTopic pushes a text written in a forum topic: like Telegram, a
// message that replies to nothing replies to the topic's creation.
func (f *fakeTG) inTopic(chat int64, from fakeUser, thread int, text string) int {
	m := f.message(chat, from, text)
	f.mu.Lock()
	m["message_thread_id"], m["is_topic_message"] = thread, true
	m["reply_to_message"] = f.topics[chat][thread]
	f.mu.Unlock()
	return f.push("message", m)
}

// press pushes a callback query: from pressed button data on message msg.
func (f *fakeTG) press(from fakeUser, msg int, data string) (updateID int, queryID string) {
	f.mu.Lock()
	m := f.messages[msg]
	f.nextMsg++
	queryID = fmt.Sprintf("cq%d", f.nextMsg)
	f.mu.Unlock()
	if m == nil {
		f.t.Fatalf("press on unknown message %d", msg)
	}
	id := f.push("callback_query", map[string]any{
		"id": queryID, "from": from.json(), "message": m, "chat_instance": "ci", "data": data,
	})
	return id, queryID
}

// --- Inspection --------------------------------------------------------

// callsTo returns the successful calls of a method.
func (f *fakeTG) callsTo(method string) []url.Values {
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

func (f *fakeTG) attemptsOf(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[method]
}

// waitFor waits until cond holds (checked under the server's lock after
// every change) or fails the test after a few seconds.
func (f *fakeTG) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		ok := cond()
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			f.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitCalls waits until method was called successfully n times and
// returns those calls.
func (f *fakeTG) waitCalls(method string, n int) []url.Values {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("%d %s calls", n, method), func() bool {
		c := 0
		for _, x := range f.calls {
			if x.Method == method {
				c++
			}
		}
		return c >= n
	})
	return f.callsTo(method)
}

// lastKeyboard returns the ID of the last message sent to user (in their
// private chat, or quoting them in a group) that still has a keyboard,
// and its buttons' callback data.
func (f *fakeTG) lastKeyboard(user int64) (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := 0
	for id, has := range f.keyboard {
		if has && id > best && f.isFor(f.messages[id], user) {
			best = id
		}
	}
	if best == 0 {
		return 0, nil
	}
	var mk struct {
		InlineKeyboard [][]struct {
			Data string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	json.Unmarshal(f.messages[best]["reply_markup"].(json.RawMessage), &mk)
	var data []string
	for _, row := range mk.InlineKeyboard {
		for _, b := range row {
			data = append(data, b.Data)
		}
	}
	return best, data
}

func (f *fakeTG) isFor(m map[string]any, user int64) bool {
	if m["chat"].(map[string]any)["id"] == user {
		return true
	}
	q, _ := m["reply_to_message"].(map[string]any)
	return q != nil && q["from"].(map[string]any)["id"] == user
}

// msg returns a message the server knows.
func (f *fakeTG) msg(id int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.messages[id]
}

// sentText is the text of a message as the user sees it.
func (f *fakeTG) sentText(id int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.messages[id]; m != nil {
		s, _ := m["text"].(string)
		return s
	}
	return ""
}

// lastSent is the ID of the last message the bot sent.
func (f *fakeTG) lastSent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return 0
	}
	return f.sent[len(f.sent)-1]
}
