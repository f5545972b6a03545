package telegram

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/safetext"
)

// update is an update with what the library (Bot API 5.x) does not read:
// the forum topic of its message.
type update struct {
	tgbotapi.Update
	thread int // message_thread_id of a message in a forum topic, else 0
}

// topic reads the forum fields of a message.
type topic struct {
	ThreadID int  `json:"message_thread_id"`
	IsTopic  bool `json:"is_topic_message"`
}

func (t *topic) thread() int {
	if t == nil || !t.IsTopic {
		return 0
	}
	return t.ThreadID
}

// parseUpdate decodes one update. On error the update ID is still set
// when it could be read.
func parseUpdate(raw []byte) (update, error) {
	var u update
	var id struct {
		UpdateID int `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return u, err
	}
	u.UpdateID = id.UpdateID
	if err := json.Unmarshal(raw, &u.Update); err != nil {
		return update{Update: tgbotapi.Update{UpdateID: id.UpdateID}}, err
	}
	var x struct {
		Message       *topic `json:"message"`
		EditedMessage *topic `json:"edited_message"`
		CallbackQuery *struct {
			Message *topic `json:"message"`
		} `json:"callback_query"`
	}
	if err := json.Unmarshal(raw, &x); err == nil {
		switch {
		case x.Message != nil:
			u.thread = x.Message.thread()
		case x.EditedMessage != nil:
			u.thread = x.EditedMessage.thread()
		case x.CallbackQuery != nil:
			u.thread = x.CallbackQuery.Message.thread()
		}
	}
	return u, nil
}

// user is the queue key of an update: its sender.
func (u update) user() int64 {
	if f := u.SentFrom(); f != nil {
		return f.ID
	}
	if u.MyChatMember != nil {
		return u.MyChatMember.From.ID
	}
	return 0
}

// handle handles one update once: a redelivered update ID is dropped.
func (a *Adapter) handle(ctx context.Context, u update) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("telegram update handling panicked", "update", u.UpdateID, "panic", p)
		}
	}()
	a.mu.Lock()
	first := a.seen.Put(u.UpdateID, struct{}{})
	a.mu.Unlock()
	if !first {
		a.log.Debug("telegram update delivered again, skipped", "update", u.UpdateID)
		return
	}
	id := strconv.Itoa(u.UpdateID)
	switch {
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil && a.isModChat(u.CallbackQuery.Message.Chat):
		a.handleModCallback(ctx, u.CallbackQuery, u.thread)
	case u.Message != nil && a.isModChat(u.Message.Chat):
		a.handleModMessage(ctx, u.Message, u.thread)
	case u.EditedMessage != nil && a.isModChat(u.EditedMessage.Chat):
		// A moderator corrected a message: what was relayed stays relayed.
	case u.CallbackQuery != nil:
		a.handleCallback(ctx, u.CallbackQuery, u.thread)
	case u.Message != nil:
		a.handleMessage(ctx, u.Message, "u"+id, u.thread)
	case u.EditedMessage != nil:
		// An edited text is a new message from the user: they corrected
		// what they said, and the assistant answers the correction.
		a.handleMessage(ctx, u.EditedMessage, "e"+id, u.thread)
	case u.MyChatMember != nil:
		a.handleMembership(u.MyChatMember)
	}
}

// input is what a Telegram message says to the engine.
type input struct {
	text    string
	command string
	nonText bool
}

func (a *Adapter) handleMessage(ctx context.Context, m *tgbotapi.Message, id string, thread int) {
	if m.From == nil || m.From.IsBot || m.Chat == nil {
		return
	}
	private := m.Chat.IsPrivate()
	if !private && !m.Chat.IsGroup() && !m.Chat.IsSuperGroup() {
		return // channels
	}
	in, ok := a.read(m, private)
	if !ok {
		return
	}
	if private {
		a.unblock(m.Chat.ID)
	}
	to := address{Chat: m.Chat.ID, User: m.From.ID, Thread: thread, Group: !private}
	if !private {
		to.Reply = m.MessageID // replies quote the user's message
	}
	msg := bot.Message{
		ID:       id,
		Channel:  Channel,
		UserID:   strconv.FormatInt(m.From.ID, 10),
		UserName: userName(m.From),
		Address:  to.encode(),
		Text:     in.text,
		Command:  in.command,
		NonText:  in.nonText,
	}
	a.obs.MessageIn(Channel)
	a.typing(ctx, to)
	turn, err := a.h.Handle(ctx, msg)
	if err != nil {
		a.log.Warn("telegram turn failed", "chat", to.Chat, "user", to.User, "err", a.scrub(err))
	}
	if !turn.Duplicate {
		a.offerPrivate(ctx, to, turn)
	}
}

// read applies the group rules and reads a message's text, command or
// non-text content; ok is false for a message the assistant must ignore.
// In a private chat every message counts. In a group only a message that
// mentions the bot, replies to it, or is one of its commands does
// (commands addressed to another bot never do).
func (a *Adapter) read(m *tgbotapi.Message, private bool) (input, bool) {
	text, entities := m.Text, m.Entities
	if text == "" && m.Caption != "" {
		text, entities = m.Caption, m.CaptionEntities
	}
	toMe := private || a.repliesToMe(m)
	if text == "" {
		if !hasContent(m) {
			return input{}, false // service message: joins, pins, titles…
		}
		return input{nonText: true}, toMe
	}
	if cmd, rest, target, ok := parseCommand(text); ok {
		if target != "" && !strings.EqualFold(target, a.self.UserName) {
			return input{}, false // another bot's command
		}
		switch cmd {
		case flows.CmdStart, flows.CmdHelp, flows.CmdTroubleshoot, flows.CmdHuman, flows.CmdCancel, flows.CmdForget:
			return input{command: cmd, text: a.stripMention(rest)}, true
		}
		if target == "" && !toMe {
			return input{}, false // a bare command of some other bot in the group
		}
		return input{text: a.stripMention(text)}, true
	}
	mentioned := a.mentions(text, entities)
	if !toMe && !mentioned {
		return input{}, false
	}
	if mentioned {
		text = a.stripMention(text)
	}
	return input{text: text}, true
}

func (a *Adapter) repliesToMe(m *tgbotapi.Message) bool {
	r := m.ReplyToMessage
	return r != nil && r.From != nil && r.From.ID == a.self.ID
}

// hasContent reports a message a person sent that is not text.
func hasContent(m *tgbotapi.Message) bool {
	return m.Sticker != nil || len(m.Photo) > 0 || m.Voice != nil || m.Video != nil ||
		m.VideoNote != nil || m.Audio != nil || m.Document != nil || m.Animation != nil ||
		m.Location != nil || m.Contact != nil || m.Venue != nil || m.Poll != nil ||
		m.Dice != nil || m.Game != nil
}

// parseCommand reads "/name@target rest". Command names are 1–32 letters,
// digits and underscores.
func parseCommand(text string) (name, rest, target string, ok bool) {
	if !strings.HasPrefix(text, "/") {
		return "", "", "", false
	}
	tok, rest := text[1:], ""
	if i := strings.IndexFunc(tok, unicode.IsSpace); i >= 0 {
		tok, rest = tok[:i], strings.TrimSpace(tok[i:])
	}
	name, target, _ = strings.Cut(tok, "@")
	if len(name) == 0 || len(name) > 32 {
		return "", "", "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return "", "", "", false
		}
	}
	return strings.ToLower(name), rest, target, true
}

// mentions reports whether a text mentions the bot: a mention entity of
// @botname, a text mention of the bot, or @botname in the text.
func (a *Adapter) mentions(text string, entities []tgbotapi.MessageEntity) bool {
	name := a.self.UserName
	if name == "" {
		return false
	}
	var units []uint16
	for _, e := range entities {
		switch e.Type {
		case "text_mention":
			if e.User != nil && e.User.ID == a.self.ID {
				return true
			}
		case "mention":
			if units == nil {
				units = utf16.Encode([]rune(text))
			}
			if e.Offset >= 0 && e.Length > 0 && e.Offset+e.Length <= len(units) {
				if strings.EqualFold(string(utf16.Decode(units[e.Offset:e.Offset+e.Length])), "@"+name) {
					return true
				}
			}
		}
	}
	return len(findMentions(text, name)) > 0
}

// stripMention removes @botname from a text.
func (a *Adapter) stripMention(text string) string {
	if a.self.UserName == "" {
		return text
	}
	spans := findMentions(text, a.self.UserName)
	if len(spans) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for _, s := range spans {
		b.WriteString(text[last:s[0]])
		last = s[1]
	}
	b.WriteString(text[last:])
	return strings.Join(strings.Fields(b.String()), " ")
}

// findMentions returns the byte spans of "@name" (any case) in text that
// are not part of a longer name.
func findMentions(text, name string) [][2]int {
	var spans [][2]int
	lower, at := strings.ToLower(text), "@"+strings.ToLower(name)
	if len(lower) != len(text) { // case folding changed byte lengths: exact match only
		lower, at = text, "@"+name
	}
	for i := 0; ; {
		j := strings.Index(lower[i:], at)
		if j < 0 {
			return spans
		}
		start, end := i+j, i+j+len(at)
		if end == len(text) || !isNameByte(text[end]) {
			spans = append(spans, [2]int{start, end})
		}
		i = end
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func userName(u *tgbotapi.User) string {
	if u.UserName != "" {
		return "@" + u.UserName
	}
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// handleCallback handles a press on an inline keyboard. The query is
// answered exactly once whatever happens (the client shows a spinner until
// then); the pressed keyboard is removed; the button goes to the engine as
// the user's answer, and a press on a closed question is answered "That
// question is closed." (the engine says where the conversation stands).
func (a *Adapter) handleCallback(ctx context.Context, cq *tgbotapi.CallbackQuery, thread int) {
	answered := false
	answer := func(text string) {
		if answered {
			return
		}
		answered = true
		a.answer(ctx, cq.ID, text)
	}
	defer answer("")
	if cq.From == nil || cq.Message == nil || cq.Message.Chat == nil || cq.Data == "" {
		return // inline-mode messages and games: not ours
	}
	m := cq.Message
	private := m.Chat.IsPrivate()
	asker := m.ReplyToMessage // in groups, questions quote the user they are for
	if !private && asker != nil && asker.From != nil && !asker.From.IsBot && asker.From.ID != cq.From.ID {
		answer(a.cfg.Texts.NotYours)
		return
	}
	if private {
		a.unblock(m.Chat.ID)
	}
	a.obs.MessageIn(Channel)
	a.removeKeyboard(ctx, cq.From.ID, keyboardRef{chat: m.Chat.ID, msg: m.MessageID})
	to := address{Chat: m.Chat.ID, User: cq.From.ID, Thread: thread, Group: !private}
	if !private && asker != nil && asker.From != nil && asker.From.ID == cq.From.ID {
		to.Reply = asker.MessageID
	}
	turn, err := a.h.Handle(ctx, bot.Message{
		ID:       "q" + cq.ID,
		Channel:  Channel,
		UserID:   strconv.FormatInt(cq.From.ID, 10),
		UserName: userName(cq.From),
		Address:  to.encode(),
		Button:   cq.Data,
	})
	if err != nil {
		a.log.Warn("telegram turn failed", "chat", to.Chat, "user", to.User, "err", a.scrub(err))
	}
	if turn.Stale {
		answer(a.cfg.Texts.Stale)
	}
	answer("")
	if !turn.Duplicate {
		a.offerPrivate(ctx, to, turn)
	}
}

// answer answers a callback query; a failure is only logged.
func (a *Adapter) answer(ctx context.Context, id, text string) {
	a.answerQuery(ctx, id, text, false)
}

// answerQuery answers a callback query with a notice, or an alert the
// user must dismiss; a failure is only logged.
func (a *Adapter) answerQuery(ctx context.Context, id, text string, alert bool) {
	err := a.call(ctx, "answerCallbackQuery", func(api botAPI) error {
		_, err := api.Request(tgbotapi.CallbackConfig{CallbackQueryID: id, Text: text, ShowAlert: alert})
		return err
	})
	if err != nil {
		a.log.Warn("telegram callback query not answered", "err", err)
	}
}

// handleMembership notes a private chat whose user blocked or unblocked
// the bot, and a removal from the moderators' chat.
func (a *Adapter) handleMembership(u *tgbotapi.ChatMemberUpdated) {
	if a.isModChat(&u.Chat) {
		if s := u.NewChatMember.Status; s == "left" || s == "kicked" {
			a.log.Error("telegram bot removed from the moderators' chat: tickets cannot be shown there", "chat", u.Chat.ID)
		}
		return
	}
	if !u.Chat.IsPrivate() {
		if s := u.NewChatMember.Status; s == "member" || s == "administrator" {
			// Helps operators find the ID of their moderators' group.
			a.log.Info("telegram bot is in a group", "chat", u.Chat.ID, "status", s)
		}
		return
	}
	switch u.NewChatMember.Status {
	case "kicked":
		a.block(u.Chat.ID)
	case "member":
		a.unblock(u.Chat.ID)
	}
}

// typing shows "typing…" while a reply is prepared: one try, no retries,
// a failure only logged.
func (a *Adapter) typing(ctx context.Context, to address) {
	if a.isBlocked(to.Chat) {
		return
	}
	p := tgbotapi.Params{"action": tgbotapi.ChatTyping}
	p.AddNonZero64("chat_id", a.chat(to.Chat))
	p.AddNonZero("message_thread_id", to.Thread)
	cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	if _, err := a.client(cctx).MakeRequest("sendChatAction", p); err != nil {
		a.obs.APIError(Channel, "sendChatAction")
		a.log.Debug("telegram typing indicator not shown", "chat", to.Chat, "err", a.scrub(err))
	}
}

// offerPrivate offers, once per user, to continue a group conversation in
// a private chat (a t.me deep link with /start continue) when it grows
// long or is handed to a person.
func (a *Adapter) offerPrivate(ctx context.Context, to address, t bot.Turn) {
	if !to.Group || a.self.UserName == "" || (t.Turns < a.cfg.DeepLinkAfter && t.Handoff == nil) {
		return
	}
	a.mu.Lock()
	first := a.offered.Put(to.User, struct{}{})
	a.mu.Unlock()
	if !first {
		return
	}
	link := "https://t.me/" + url.QueryEscape(a.self.UserName) + "?start=continue"
	text := `<a href="` + safetext.HTML(link) + `">` + safetext.HTML(a.cfg.Texts.Continue) + `</a>`
	if err := a.deliver(ctx, &to, []outMsg{{html: text}}); err != nil {
		a.obs.Undelivered(Channel)
	}
}
