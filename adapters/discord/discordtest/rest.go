package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is Discord's JSON error body.
type apiError struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
}

func bad(code int, msg string) (int, any) {
	return http.StatusBadRequest, apiError{Message: msg, Code: code}
}

// handlerFunc answers one REST request with the server locked.
type handlerFunc func(r *http.Request, body []byte) (int, any)

func (s *Server) routes(mux *http.ServeMux) {
	api := func(pattern string, auth bool, h handlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" /api/v9"+path, s.rest(auth, h))
	}
	api("GET /gateway", true, s.gateway)
	api("GET /gateway/bot", true, s.gateway)
	api("GET /channels/{cid}", true, s.getChannel)
	api("POST /channels/{cid}/messages", true, s.postMessage)
	api("PATCH /channels/{cid}/messages/{mid}", true, s.editMessage)
	api("POST /channels/{cid}/threads", true, s.startThread)
	api("POST /channels/{cid}/messages/{mid}/threads", true, s.startThread)
	api("PUT /channels/{tid}/thread-members/{uid}", true, s.addMember)
	api("PUT /applications/{app}/commands", true, s.putCommands)
	api("PUT /applications/{app}/guilds/{gid}/commands", true, s.putCommands)
	api("POST /interactions/{iid}/{token}/callback", false, s.callback)
	api("PATCH /webhooks/{app}/{token}/messages/{mid}", false, s.editResponse)
	api("DELETE /webhooks/{app}/{token}/messages/{mid}", false, s.deleteResponse)
	api("POST /webhooks/{app}/{token}", false, s.followup)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v9"), Status: 404, Time: time.Now()})
		s.notify()
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, apiError{Message: "404: Not Found"})
	})
	mux.HandleFunc("/ws", s.serveGateway)
	mux.HandleFunc("/ws/", s.serveGateway)
}

// rest wraps a handler: faults, authentication, recording, rate-limit
// headers.
func (s *Server) rest(auth bool, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		path := strings.TrimPrefix(r.URL.Path, "/api/v9")
		s.mu.Lock()
		defer s.mu.Unlock()
		defer s.notify()
		call := Call{Method: r.Method, Path: path, Query: r.URL.RawQuery, Body: json.RawMessage(body), Time: time.Now()}
		if f := s.fault(r.Method, path); f != nil {
			call.Status = f.status
			s.calls = append(s.calls, call)
			if f.status == http.StatusTooManyRequests {
				secs := f.retryAfter.Seconds()
				h := w.Header()
				h.Set("X-RateLimit-Limit", "5")
				h.Set("X-RateLimit-Remaining", "0")
				h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(time.Now().Add(f.retryAfter).UnixMilli())/1000, 'f', 3, 64))
				h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
				h.Set("X-RateLimit-Bucket", "fakebucket")
				h.Set("X-RateLimit-Scope", "user")
				h.Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
				writeJSON(w, f.status, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": false, "code": 0})
				return
			}
			writeJSON(w, f.status, apiError{Message: fmt.Sprintf("%d: %s", f.status, http.StatusText(f.status))})
			return
		}
		if auth && r.Header.Get("Authorization") != "Bot "+s.Token {
			call.Status = http.StatusUnauthorized
			s.calls = append(s.calls, call)
			writeJSON(w, http.StatusUnauthorized, apiError{Message: "401: Unauthorized"})
			return
		}
		status, resp := h(r, body)
		call.Status = status
		s.calls = append(s.calls, call)
		w.Header().Set("X-RateLimit-Limit", "50")
		w.Header().Set("X-RateLimit-Remaining", "49")
		w.Header().Set("X-RateLimit-Reset-After", "1.000")
		w.Header().Set("X-RateLimit-Bucket", "fake")
		writeJSON(w, status, resp)
	}
}

func (s *Server) fault(method, path string) *fault {
	for i, f := range s.faults {
		if f.method == method && strings.HasPrefix(path, f.prefix) {
			f.times--
			if f.times <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if status == http.StatusNoContent || v == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) gateway(r *http.Request, _ []byte) (int, any) {
	ws := "ws" + strings.TrimPrefix(s.URL, "http") + "/ws"
	return http.StatusOK, map[string]any{
		"url": ws, "shards": 1,
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
	}
}

// messageBody is what the bot sends to create or edit a message.
type messageBody struct {
	Content    *string `json:"content"`
	Flags      int     `json:"flags"`
	Components []struct {
		Type       int `json:"type"`
		Components []struct {
			Type     int    `json:"type"`
			CustomID string `json:"custom_id"`
			Label    string `json:"label"`
			Style    int    `json:"style"`
		} `json:"components"`
	} `json:"components"`
	AllowedMentions *struct {
		Parse       *[]string `json:"parse"`
		Users       []string  `json:"users"`
		Roles       []string  `json:"roles"`
		RepliedUser bool      `json:"replied_user"`
	} `json:"allowed_mentions"`
	Reference *struct {
		MessageID string `json:"message_id"`
	} `json:"message_reference"`
}

// parseMessage decodes and checks a message body against Discord's
// limits. A body that could ping anyone is refused too: a real Discord
// would send it and ping, so the fake makes the test fail instead.
func parseMessage(body []byte, create bool) (messageBody, [][]Button, int, any) {
	var m messageBody
	if err := json.Unmarshal(body, &m); err != nil {
		st, e := bad(50109, "The request body contains invalid JSON.")
		return m, nil, st, e
	}
	content := ""
	if m.Content != nil {
		content = *m.Content
	}
	if utf16Len(content) > 2000 {
		st, e := bad(50035, "Invalid Form Body: content: Must be 2000 or fewer in length.")
		return m, nil, st, e
	}
	if len(m.Components) > 5 {
		st, e := bad(50035, "Invalid Form Body: components: Must be 5 or fewer in length.")
		return m, nil, st, e
	}
	var rows [][]Button
	seen := map[string]bool{}
	for _, row := range m.Components {
		if row.Type != 1 || len(row.Components) == 0 || len(row.Components) > 5 {
			st, e := bad(50035, "Invalid Form Body: components: an action row holds 1 to 5 components")
			return m, nil, st, e
		}
		var bs []Button
		for _, b := range row.Components {
			switch {
			case b.Type != 2:
				st, e := bad(50035, "Invalid Form Body: only buttons are expected")
				return m, nil, st, e
			case b.CustomID == "" || len(b.CustomID) > 100:
				st, e := bad(50035, "Invalid Form Body: custom_id: Must be between 1 and 100 in length.")
				return m, nil, st, e
			case utf16Len(b.Label) > 80:
				st, e := bad(50035, "Invalid Form Body: label: Must be 80 or fewer in length.")
				return m, nil, st, e
			case seen[b.CustomID]:
				st, e := bad(50035, "Invalid Form Body: Component custom id cannot be duplicated")
				return m, nil, st, e
			}
			seen[b.CustomID] = true
			bs = append(bs, Button{CustomID: b.CustomID, Label: b.Label})
		}
		rows = append(rows, bs)
	}
	if create && strings.TrimSpace(content) == "" && len(rows) == 0 {
		st, e := bad(50006, "Cannot send an empty message")
		return m, nil, st, e
	}
	if content != "" || len(rows) > 0 {
		am := m.AllowedMentions
		if am == nil || am.Parse == nil || len(*am.Parse) > 0 || len(am.Users) > 0 || len(am.Roles) > 0 || am.RepliedUser {
			st, e := bad(0, "discordtest: allowed_mentions must be {\"parse\":[]} so that nothing pings")
			return m, nil, st, e
		}
	}
	return m, rows, 0, nil
}

func (s *Server) newMessage(channel, content string, rows [][]Button, via string) *Message {
	m := &Message{ID: s.id(), ChannelID: channel, Content: content, Buttons: rows, Via: via}
	s.msgs = append(s.msgs, m)
	s.byID[m.ID] = m
	return m
}

func (s *Server) messageJSON(m *Message) map[string]any {
	rows := []any{}
	for _, r := range m.Buttons {
		var bs []any
		for _, b := range r {
			bs = append(bs, map[string]any{"type": 2, "style": 1, "custom_id": b.CustomID, "label": b.Label})
		}
		rows = append(rows, map[string]any{"type": 1, "components": bs})
	}
	flags := 0
	if m.Ephemeral {
		flags = 64
	}
	return map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "content": m.Content, "components": rows, "type": 0, "flags": flags,
		"author":    map[string]any{"id": BotID, "username": BotName, "bot": true},
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "mentions": []any{}, "mention_roles": []any{},
	}
}

func (s *Server) postMessage(r *http.Request, body []byte) (int, any) {
	cid := r.PathValue("cid")
	b, rows, st, e := parseMessage(body, true)
	if st != 0 {
		return st, e
	}
	content := ""
	if b.Content != nil {
		content = *b.Content
	}
	m := s.newMessage(cid, content, rows, "channel")
	if b.Reference != nil {
		m.ReplyTo = b.Reference.MessageID
	}
	return http.StatusOK, s.messageJSON(m)
}

// editMessage edits a message the bot posted in a channel.
func (s *Server) editMessage(r *http.Request, body []byte) (int, any) {
	m := s.byID[r.PathValue("mid")]
	if m == nil || m.Deleted || m.ChannelID != r.PathValue("cid") || m.Via != "channel" {
		return http.StatusNotFound, apiError{Message: "Unknown Message", Code: 10008}
	}
	return s.edit(m, body)
}

// edit applies an edit's body to a message: the text and the buttons it
// gives replace the message's.
func (s *Server) edit(m *Message, body []byte) (int, any) {
	data, rows, st, e := parseMessage(body, false)
	if st != 0 {
		return st, e
	}
	if data.Content != nil {
		m.Content = *data.Content
	}
	if data.Components != nil {
		m.Buttons = rows
	}
	m.Edits++
	return http.StatusOK, s.messageJSON(m)
}

// getChannel answers with a thread the bot opened, a channel made with
// AddChannel, or else a text channel.
func (s *Server) getChannel(r *http.Request, _ []byte) (int, any) {
	cid := r.PathValue("cid")
	if th, ok := s.threads[cid]; ok {
		return http.StatusOK, map[string]any{"id": th.ID, "type": 11, "parent_id": th.ParentID, "owner_id": th.Owner, "name": th.Name,
			"thread_metadata": map[string]any{"archived": false, "auto_archive_duration": 60}}
	}
	if ch, ok := s.channels[cid]; ok {
		return http.StatusOK, ch
	}
	return http.StatusOK, map[string]any{"id": cid, "type": 0, "name": "general"}
}

func (s *Server) startThread(r *http.Request, body []byte) (int, any) {
	cid, mid := r.PathValue("cid"), r.PathValue("mid")
	var req struct {
		Name    string `json:"name"`
		Archive int    `json:"auto_archive_duration"`
		Type    int    `json:"type"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return bad(50109, "The request body contains invalid JSON.")
	}
	switch {
	case req.Name == "" || utf16Len(req.Name) > 100:
		return bad(50035, "Invalid Form Body: name: Must be between 1 and 100 in length.")
	case req.Archive != 0 && req.Archive != 60 && req.Archive != 1440 && req.Archive != 4320 && req.Archive != 10080:
		return bad(50035, "Invalid Form Body: auto_archive_duration")
	case mid == "" && req.Type != 11 && req.Type != 12:
		return bad(50035, "Invalid Form Body: type")
	}
	if _, isThread := s.threads[cid]; isThread || s.noThreads[cid] {
		return http.StatusBadRequest, apiError{Message: "Cannot execute action on this channel type", Code: 50024}
	}
	// A thread started from a message has the message's ID, so a message
	// has one thread at most.
	id := mid
	if mid == "" {
		id = s.id()
	} else if _, exists := s.threads[mid]; exists {
		return bad(160004, "A thread has already been created for this message")
	} else if m := s.byID[mid]; m != nil && m.ChannelID != cid {
		return http.StatusNotFound, apiError{Message: "Unknown Message", Code: 10008}
	}
	th := Thread{ID: id, ParentID: cid, Name: req.Name, FromMessage: mid, Owner: BotID}
	s.threads[th.ID] = th
	ch := map[string]any{"id": th.ID, "type": 11, "parent_id": cid, "owner_id": BotID, "name": req.Name,
		"thread_metadata": map[string]any{"archived": false, "auto_archive_duration": req.Archive}}
	s.dispatchLocked("THREAD_CREATE", mergeJSON(ch, map[string]any{"newly_created": true}))
	return http.StatusCreated, ch
}

func mergeJSON(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func (s *Server) addMember(r *http.Request, _ []byte) (int, any) {
	th, ok := s.threads[r.PathValue("tid")]
	if !ok {
		return http.StatusNotFound, apiError{Message: "Unknown Channel", Code: 10003}
	}
	th.Members = append(th.Members, r.PathValue("uid"))
	s.threads[th.ID] = th
	return http.StatusNoContent, nil
}

func (s *Server) putCommands(r *http.Request, body []byte) (int, any) {
	if r.PathValue("app") != AppID {
		return http.StatusForbidden, apiError{Message: "Missing Access", Code: 50001}
	}
	var cmds []map[string]any
	if err := json.Unmarshal(body, &cmds); err != nil {
		return bad(50109, "The request body contains invalid JSON.")
	}
	for _, c := range cmds {
		if msg := checkCommand(c); msg != "" {
			return bad(50035, "Invalid Form Body: "+msg)
		}
		c["id"] = s.id()
		c["application_id"] = AppID
	}
	s.commands = cmds
	return http.StatusOK, cmds
}

// checkCommand checks a command or an option as Discord does: a lowercase
// name of 1–32 characters, a description of 1–100, at most 25 options,
// required options before the others. It returns what is wrong, or "".
func checkCommand(c map[string]any) string {
	name, _ := c["name"].(string)
	desc, _ := c["description"].(string)
	if name == "" || len(name) > 32 || strings.ToLower(name) != name || strings.ContainsAny(name, " ") {
		return "name " + strconv.Quote(name)
	}
	if desc == "" || utf16Len(desc) > 100 {
		return name + ": description"
	}
	opts, _ := c["options"].([]any)
	if len(opts) > 25 {
		return name + ": more than 25 options"
	}
	optional := false
	for _, o := range opts {
		om, _ := o.(map[string]any)
		if om == nil {
			return name + ": option"
		}
		if req, _ := om["required"].(bool); req && optional {
			return name + ": required options must come before optional ones"
		} else if !req {
			optional = true
		}
		if msg := checkCommand(om); msg != "" {
			return name + " " + msg
		}
	}
	return ""
}

func (s *Server) interactionByToken(token string) *interaction {
	for _, ix := range s.ixs {
		if ix.token == token {
			return ix
		}
	}
	return nil
}

func (s *Server) callback(r *http.Request, body []byte) (int, any) {
	ix := s.ixs[r.PathValue("iid")]
	if ix == nil || ix.token != r.PathValue("token") {
		return http.StatusNotFound, apiError{Message: "Unknown interaction", Code: 10062}
	}
	if !ix.acked.IsZero() {
		return bad(40060, "Interaction has already been acknowledged.")
	}
	var resp struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return bad(50109, "The request body contains invalid JSON.")
	}
	var data messageBody
	var rows [][]Button
	if len(resp.Data) > 0 && string(resp.Data) != "null" {
		var st int
		var e any
		data, rows, st, e = parseMessage(resp.Data, resp.Type == 4)
		if st != 0 {
			return st, e
		}
	}
	content := ""
	if data.Content != nil {
		content = *data.Content
	}
	switch resp.Type {
	case 4, 5: // a message (now, or "thinking…" filled in later)
		if ix.kind == 3 && resp.Type == 5 {
			return bad(40000, "discordtest: use type 6 or 7 for a button press")
		}
		m := s.newMessage(ix.channel, content, rows, "response")
		m.Interaction, m.Ephemeral = ix.id, data.Flags&64 != 0
		ix.original = m.ID
	case 6, 7: // a button press: the pressed message
		if ix.kind != 3 {
			return bad(40000, "discordtest: types 6 and 7 are for button presses")
		}
		if m := s.byID[ix.original]; m != nil && resp.Type == 7 {
			if data.Content != nil {
				m.Content = content
			}
			if data.Components != nil {
				m.Buttons = rows
			}
			m.Edits++
		}
	default:
		return bad(50035, "Invalid Form Body: type")
	}
	ix.acked, ix.ackType = time.Now(), resp.Type
	return http.StatusNoContent, nil
}

func (s *Server) editResponse(r *http.Request, body []byte) (int, any) {
	ix := s.interactionByToken(r.PathValue("token"))
	if ix == nil || r.PathValue("app") != AppID || ix.acked.IsZero() {
		return http.StatusNotFound, apiError{Message: "Unknown Webhook", Code: 10015}
	}
	mid := r.PathValue("mid")
	if mid == "@original" {
		mid = ix.original
	}
	m := s.byID[mid]
	if m == nil || m.Deleted {
		return http.StatusNotFound, apiError{Message: "Unknown Message", Code: 10008}
	}
	return s.edit(m, body)
}

func (s *Server) deleteResponse(r *http.Request, _ []byte) (int, any) {
	ix := s.interactionByToken(r.PathValue("token"))
	if ix == nil || ix.acked.IsZero() {
		return http.StatusNotFound, apiError{Message: "Unknown Webhook", Code: 10015}
	}
	mid := r.PathValue("mid")
	if mid == "@original" {
		mid = ix.original
	}
	if m := s.byID[mid]; m != nil {
		m.Deleted = true
	}
	return http.StatusNoContent, nil
}

func (s *Server) followup(r *http.Request, body []byte) (int, any) {
	ix := s.interactionByToken(r.PathValue("token"))
	if ix == nil || r.PathValue("app") != AppID || ix.acked.IsZero() {
		return http.StatusNotFound, apiError{Message: "Unknown Webhook", Code: 10015}
	}
	data, rows, st, e := parseMessage(body, true)
	if st != 0 {
		return st, e
	}
	content := ""
	if data.Content != nil {
		content = *data.Content
	}
	m := s.newMessage(ix.channel, content, rows, "followup")
	m.Interaction, m.Ephemeral = ix.id, data.Flags&64 != 0
	if r.URL.Query().Get("wait") != "true" {
		return http.StatusNoContent, nil
	}
	return http.StatusOK, s.messageJSON(m)
}
