package telegramtest

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf16"
)

// Push queues an update (kind → object, for example "message" → a
// Message) and returns its update_id.
func (f *Server) Push(kind string, obj map[string]any) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	raw, err := json.Marshal(map[string]any{"update_id": f.nextID, kind: obj})
	if err != nil {
		f.t.Fatal(err)
	}
	f.updates = append(f.updates, update{ID: f.nextID, Raw: raw})
	f.pushed[f.nextID] = update{ID: f.nextID, Raw: raw}
	f.notifyLocked()
	return f.nextID
}

// Again hands out an update once more, even though it was confirmed.
func (f *Server) Again(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redeliver = append(f.redeliver, f.pushed[id])
	f.notifyLocked()
}

// Raw returns an update as JSON (for webhook posts).
func (f *Server) Raw(id int) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pushed[id].Raw
}

// Message builds a message from a user in a chat, with entities made the
// way Telegram makes them (bot_command at the start, @mentions). The
// server knows it by its message_id from now on; the caller may add
// fields before pushing it.
func (f *Server) Message(chat int64, from User, text string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextMsg++
	id := f.nextMsg
	m := map[string]any{"message_id": id, "date": time.Now().Unix(), "chat": ChatJSON(chat), "from": from.JSON()}
	if text != "" {
		m["text"] = text
		if e := entities(text); len(e) > 0 {
			m["entities"] = e
		}
	}
	f.messages[id] = m
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

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Text pushes a text message and returns its update ID.
func (f *Server) Text(chat int64, from User, text string) int {
	return f.Push("message", f.Message(chat, from, text))
}

// Say pushes a text message and returns its message ID.
func (f *Server) Say(chat int64, from User, text string) int {
	m := f.Message(chat, from, text)
	f.Push("message", m)
	return m["message_id"].(int)
}

// ReplyTo pushes a text that replies to message replyTo and returns its
// update ID.
func (f *Server) ReplyTo(chat int64, from User, replyTo int, text string) int {
	m := f.Message(chat, from, text)
	f.mu.Lock()
	m["reply_to_message"] = f.messages[replyTo]
	f.mu.Unlock()
	return f.Push("message", m)
}

// Admin makes user an administrator ("administrator") or the creator
// ("creator") of chat.
func (f *Server) Admin(chat int64, user User, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.admins[chat] == nil {
		f.admins[chat], f.statuses[chat] = map[int64]User{}, map[int64]string{}
	}
	f.admins[chat][user.ID], f.statuses[chat][user.ID] = user, status
}

// Forum gives chat topics.
func (f *Server) Forum(chat int64) {
	f.mu.Lock()
	f.forums[chat] = true
	f.mu.Unlock()
}

// InTopic pushes a text written in a forum topic: like Telegram, a
// message that replies to nothing replies to the topic's creation.
func (f *Server) InTopic(chat int64, from User, thread int, text string) int {
	m := f.Message(chat, from, text)
	f.mu.Lock()
	m["message_thread_id"], m["is_topic_message"] = thread, true
	m["reply_to_message"] = f.topics[chat][thread]
	f.mu.Unlock()
	return f.Push("message", m)
}

// Press pushes a callback query: from pressed the button with data on
// message msg. It returns the update ID and the callback query's ID.
func (f *Server) Press(from User, msg int, data string) (updateID int, queryID string) {
	f.mu.Lock()
	m := f.messages[msg]
	f.nextMsg++
	queryID = fmt.Sprintf("cq%d", f.nextMsg)
	f.mu.Unlock()
	if m == nil {
		f.t.Fatalf("press on unknown message %d", msg)
	}
	id := f.Push("callback_query", map[string]any{
		"id": queryID, "from": from.JSON(), "message": m, "chat_instance": "ci", "data": data,
	})
	return id, queryID
}
