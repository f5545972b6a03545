package discordtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// Gateway opcodes.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatACK   = 11
)

// serveGateway speaks the gateway: Hello, then Identify → READY or
// Resume → replayed dispatches and RESUMED (or Invalid Session), and
// heartbeats.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.handlers.Add(1)
	s.conns[c] = true
	s.conn = c
	s.send(c, opHello, map[string]any{"heartbeat_interval": s.heartbeat.Milliseconds()})
	s.notify()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if s.conn == c {
			s.conn = nil
		}
		s.notify()
		s.mu.Unlock()
		ws.Close()
		s.handlers.Done()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if json.Unmarshal(data, &f) != nil {
			s.closeWith(c, 4002, "Decode error.")
			return
		}
		s.mu.Lock()
		switch f.Op {
		case opHeartbeat:
			s.heartbeats++
			s.send(c, opHeartbeatACK, nil)
		case opIdentify:
			s.identify(c, f.D)
		case opResume:
			s.resume(c, f.D)
		}
		s.notify()
		s.mu.Unlock()
	}
}

// send writes one frame; s.mu is held, so frames go out in order.
func (s *Server) send(c *gwConn, op int, d any) {
	raw, _ := json.Marshal(d)
	s.write(c, frame{Op: op, D: raw})
}

func (s *Server) write(c *gwConn, f frame) {
	_ = c.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if err := c.ws.WriteJSON(f); err != nil {
		c.ws.NetConn().Close()
	}
}

// closeWith closes a connection with a gateway close code.
func (s *Server) closeWith(c *gwConn, code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.ready = false
	c.ws.NetConn().Close()
}

func (s *Server) identify(c *gwConn, d json.RawMessage) {
	var id struct {
		Token   string  `json:"token"`
		Intents int64   `json:"intents"`
		Shard   *[2]int `json:"shard"`
	}
	_ = json.Unmarshal(d, &id)
	s.identifies = append(s.identifies, Identify{Token: id.Token, Intents: id.Intents, Shard: id.Shard})
	if strings.TrimPrefix(id.Token, "Bot ") != s.Token {
		s.closeWith(c, 4004, "Authentication failed.")
		return
	}
	if id.Intents&s.refuse != 0 {
		s.closeWith(c, 4014, "Disallowed intent(s).")
		return
	}
	s.session = "session-" + s.id()
	s.seq, s.history = 0, nil
	c.ready = true
	s.dispatchLocked("READY", map[string]any{
		"v": 9, "session_id": s.session, "resume_gateway_url": "ws" + strings.TrimPrefix(s.URL, "http") + "/ws",
		"user":        map[string]any{"id": BotID, "username": BotName, "bot": true},
		"application": map[string]any{"id": AppID, "flags": 0},
		"guilds":      []any{}, "private_channels": []any{},
	})
}

func (s *Server) resume(c *gwConn, d json.RawMessage) {
	var r struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	_ = json.Unmarshal(d, &r)
	s.resumes = append(s.resumes, Resume(r))
	if s.rejectResume || r.SessionID != s.session || strings.TrimPrefix(r.Token, "Bot ") != s.Token {
		s.rejectResume = false
		s.send(c, opInvalidSession, false)
		return
	}
	c.ready = true
	from := r.Seq - int64(s.replayExtra)
	s.replayExtra = 0
	for _, f := range s.history {
		if *f.S > from {
			s.write(c, f)
		}
	}
	s.dispatchLocked("RESUMED", map[string]any{})
}

// dispatchLocked sends a dispatch (op 0) with the next sequence number to
// the ready connection, or keeps it for a resume; s.mu is held.
func (s *Server) dispatchLocked(t string, d any) {
	raw, _ := json.Marshal(d)
	s.seq++
	seq, typ := s.seq, t
	f := frame{Op: opDispatch, D: raw, S: &seq, T: &typ}
	s.history = append(s.history, f)
	if s.conn != nil && s.conn.ready {
		s.write(s.conn, f)
	}
}

// Dispatch sends any gateway event.
func (s *Server) Dispatch(t string, d any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dispatchLocked(t, d)
	s.notify()
}

// Drop cuts the gateway connection without a close frame, as a network
// failure would. Dispatches sent meanwhile are replayed on resume.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.ready = false
		s.conn.ws.NetConn().Close()
		s.conn = nil
	}
	s.notify()
}

// RejectNextResume answers the next Resume with Invalid Session (op 9,
// not resumable), so the client must identify anew.
func (s *Server) RejectNextResume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectResume = true
}

// ReplayOnResume makes the next resume replay, besides the missed
// dispatches, the last n the client had already seen (duplicates).
func (s *Server) ReplayOnResume(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replayExtra = n
}

// RefuseIntents closes an Identify asking for any of these intents with
// 4014 (Disallowed intents), as Discord does for a privileged intent that
// is not enabled for the application.
func (s *Server) RefuseIntents(mask int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = mask
}

// User is a Discord user.
type User struct {
	ID, Username string
	Bot          bool
}

func (u User) json() map[string]any {
	return map[string]any{"id": u.ID, "username": u.Username, "global_name": nil, "bot": u.Bot, "discriminator": "0"}
}

// UserMessage is a message a user writes.
type UserMessage struct {
	ChannelID string
	GuildID   string // empty for a DM
	Author    User
	Content   string
	// MentionBot lists the bot among the message's mentions (write
	// "<@"+BotID+">" in Content as a client would).
	MentionBot  bool
	Attachments int
	Type        int // 0: a default message
	// Roles are the author's roles in the server (sent as the message's
	// member, as Discord does in servers).
	Roles []string
	// Nick is the author's nickname in the server.
	Nick string
}

// Say dispatches MESSAGE_CREATE and returns the message ID.
func (s *Server) Say(m UserMessage) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id()
	mentions := []any{}
	if m.MentionBot {
		mentions = append(mentions, User{ID: BotID, Username: BotName, Bot: true}.json())
	}
	atts := []any{}
	for i := range m.Attachments {
		atts = append(atts, map[string]any{"id": s.id(), "filename": "image" + strconv.Itoa(i) + ".png", "size": 1000, "url": "https://cdn.discordapp.com/x.png"})
	}
	d := map[string]any{
		"id": id, "channel_id": m.ChannelID, "author": m.Author.json(), "content": m.Content,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "type": m.Type, "tts": false,
		"mentions": mentions, "mention_roles": []any{}, "mention_everyone": false, "attachments": atts,
		"embeds": []any{}, "pinned": false, "flags": 0,
	}
	if m.GuildID != "" {
		d["guild_id"] = m.GuildID
		d["member"] = member(m.Roles, m.Nick, nil)
	}
	s.dispatchLocked("MESSAGE_CREATE", d)
	s.notify()
	return id
}

// Command is a slash command a user runs.
type Command struct {
	Name    string
	Problem string // /troubleshoot's option, when set
	// Sub is the subcommand (/mod claim), with its Options.
	Sub     string
	Options []Arg
	// Roles are the user's roles in the server.
	Roles []string
	// ChannelID and GuildID say where (GuildID empty: a DM); Thread says
	// the channel is a thread.
	ChannelID, GuildID string
	Thread             bool
	User               User
	// AppPermissions are the bot's permissions in the channel (default:
	// all a support bot needs).
	AppPermissions int64
}

// Default permissions of the bot in a channel: view, send, read history,
// create public threads, send in threads.
const DefaultPermissions = 1<<10 | 1<<11 | 1<<16 | 1<<35 | 1<<38

// Slash dispatches INTERACTION_CREATE for a slash command and returns the
// interaction ID.
func (s *Server) Slash(c Command) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := map[string]any{"id": s.id(), "name": c.Name, "type": 1}
	opts := []any{}
	if c.Problem != "" {
		opts = append(opts, map[string]any{"name": "problem", "type": 3, "value": c.Problem})
	}
	for _, o := range c.Options {
		opts = append(opts, o.json())
	}
	if c.Sub != "" {
		opts = []any{map[string]any{"name": c.Sub, "type": 1, "options": opts}}
	}
	if len(opts) > 0 {
		data["options"] = opts
	}
	return s.interactLocked(2, c.ChannelID, c.GuildID, c.Thread, c.User, c.Roles, c.AppPermissions, data, "")
}

// Arg is an option of a slash command: a string or an integer.
type Arg struct {
	Name  string
	Value any // string or int
}

func (o Arg) json() map[string]any {
	typ := 3 // string
	if _, ok := o.Value.(int); ok {
		typ = 4 // integer
	}
	return map[string]any{"name": o.Name, "type": typ, "value": o.Value}
}

func member(roles []string, nick string, u *User) map[string]any {
	if roles == nil {
		roles = []string{}
	}
	m := map[string]any{"roles": roles, "permissions": "0", "deaf": false, "mute": false}
	if nick != "" {
		m["nick"] = nick
	}
	if u != nil {
		m["user"] = u.json()
	}
	return m
}

// Press is a press on a button of a message the bot posted.
type Press struct {
	MessageID, CustomID string
	GuildID             string
	Thread              bool
	User                User
	Roles               []string // the user's roles in the server
}

// Press dispatches INTERACTION_CREATE for a button press and returns the
// interaction ID.
func (s *Server) Press(p Press) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byID[p.MessageID]
	channel := ""
	if m != nil {
		channel = m.ChannelID
	}
	data := map[string]any{"custom_id": p.CustomID, "component_type": 2}
	return s.interactLocked(3, channel, p.GuildID, p.Thread, p.User, p.Roles, 0, data, p.MessageID)
}

func (s *Server) interactLocked(kind int, channel, guild string, thread bool, u User, roles []string, perms int64, data map[string]any, msgID string) string {
	id := s.id()
	token := "itok-" + id + "-SECRET"
	if perms == 0 {
		perms = DefaultPermissions
	}
	chType := 0
	switch {
	case guild == "":
		chType = 1
	case thread:
		chType = 11
	}
	ch := map[string]any{"id": channel, "type": chType}
	if th, ok := s.threads[channel]; ok && thread {
		ch["parent_id"] = th.ParentID
	}
	d := map[string]any{
		"id": id, "application_id": AppID, "type": kind, "token": token, "version": 1,
		"channel_id": channel, "channel": ch,
		"data": data, "app_permissions": strconv.FormatInt(perms, 10), "locale": "en-US",
	}
	if guild != "" {
		d["guild_id"] = guild
		d["member"] = member(roles, "", &u)
		d["context"] = 0
	} else {
		d["user"] = u.json()
		d["context"] = 1
	}
	ix := &interaction{id: id, token: token, channel: channel, kind: kind, dispatched: time.Now(), original: msgID}
	if m := s.byID[msgID]; m != nil {
		d["message"] = s.messageJSON(m)
	}
	s.ixs[id] = ix
	s.dispatchLocked("INTERACTION_CREATE", d)
	s.notify()
	return id
}
