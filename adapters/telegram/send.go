package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/safetext"
)

// Telegram's limits.
const (
	maxMessageLen   = 4096 // characters (UTF-16 code units) of a message's text
	maxCallbackData = 64   // bytes of a button's callback_data
	shortLabel      = 14   // runes; buttons with labels this short go two to a row
)

var _ bot.Sender = (*Adapter)(nil)

// address is where a conversation's replies go, encoded in a bot.Address
// as "chat/user/reply/thread/kind".
type address struct {
	Chat   int64 // chat ID
	User   int64 // the user the conversation is with
	Reply  int   // message to quote (groups), 0 for none
	Thread int   // forum topic, 0 for none
	Group  bool  // a group or supergroup, not a private chat
}

func (a address) encode() bot.Address {
	kind := "p"
	if a.Group {
		kind = "g"
	}
	return bot.Address(fmt.Sprintf("%d/%d/%d/%d/%s", a.Chat, a.User, a.Reply, a.Thread, kind))
}

func parseAddress(s bot.Address) (address, error) {
	f := strings.Split(string(s), "/")
	if len(f) != 5 || (f[4] != "p" && f[4] != "g") {
		return address{}, fmt.Errorf("telegram: address %q is not a Telegram address", s)
	}
	var a address
	var errs [4]error
	a.Chat, errs[0] = strconv.ParseInt(f[0], 10, 64)
	a.User, errs[1] = strconv.ParseInt(f[1], 10, 64)
	a.Reply, errs[2] = strconv.Atoi(f[2])
	a.Thread, errs[3] = strconv.Atoi(f[3])
	if err := errors.Join(errs[:]...); err != nil || a.Chat == 0 {
		return address{}, fmt.Errorf("telegram: address %q is not a Telegram address", s)
	}
	a.Group = f[4] == "g"
	return a, nil
}

// outMsg is one Telegram message: HTML text and an optional keyboard.
type outMsg struct {
	html   string
	markup *tgbotapi.InlineKeyboardMarkup
}

// Send delivers replies to a Telegram chat (bot.Sender). Text goes out as
// HTML with every character escaped; a text over 4096 characters is split
// on line boundaries, its buttons on the last part; in a group the first
// message quotes the user's. Each call retries within bounds (429 waits
// retry_after; 5xx and network errors back off). A reply that finally
// cannot be sent is logged and counted (Observer.Undelivered) and Send
// returns an error. When the user blocked the bot (403) the conversation
// ends: nothing more is sent to that chat by this process until the user
// writes again, and Send returns an error wrapping ErrBlocked.
func (a *Adapter) Send(ctx context.Context, to bot.Address, replies []flows.Reply) error {
	addr, err := parseAddress(to)
	if err != nil {
		a.undelivered(len(replies))
		a.log.Error("telegram reply not delivered", "err", err)
		return err
	}
	if a.isBlocked(addr.Chat) {
		a.undelivered(len(replies))
		a.log.Info("telegram reply dropped: the user blocked the bot", "chat", addr.Chat)
		return fmt.Errorf("telegram: chat %d: %w", addr.Chat, ErrBlocked)
	}
	// The user's last keyboard belongs to a question now answered or
	// superseded.
	a.dropKeyboard(ctx, addr.User)
	for i, r := range replies {
		if err := a.deliver(ctx, &addr, a.render(r)); err != nil {
			a.undelivered(len(replies) - i)
			return err
		}
	}
	return nil
}

func (a *Adapter) undelivered(n int) {
	for range n {
		a.obs.Undelivered(Channel)
	}
}

// deliver sends messages in order, stopping at the first that cannot be
// sent. Only the first message sent quotes to.Reply.
func (a *Adapter) deliver(ctx context.Context, to *address, msgs []outMsg) error {
	for _, m := range msgs {
		sent, err := a.sendMessage(ctx, *to, m)
		if err != nil {
			if isBlocked(err) {
				a.block(to.Chat)
				a.log.Info("telegram user blocked the bot; their conversation ends", "chat", to.Chat, "err", err)
				return fmt.Errorf("telegram: chat %d: %w: %w", to.Chat, ErrBlocked, err)
			}
			a.log.Error("telegram reply not delivered", "chat", to.Chat, "err", err)
			return err
		}
		a.obs.MessageOut(Channel)
		to.Reply = 0
		if m.markup != nil && sent.MessageID != 0 {
			a.mu.Lock()
			if len(a.keyboards) >= maxTracked {
				clear(a.keyboards)
			}
			a.keyboards[to.User] = keyboardRef{chat: sent.Chat.ID, msg: sent.MessageID}
			a.mu.Unlock()
		}
	}
	return nil
}

// sendMessage sends one message with retries; a group that became a
// supergroup is followed to its new ID.
func (a *Adapter) sendMessage(ctx context.Context, to address, m outMsg) (tgbotapi.Message, error) {
	var sent tgbotapi.Message
	chat := a.chat(to.Chat)
	err := a.call(ctx, "sendMessage", func(api botAPI) error {
		p := tgbotapi.Params{"text": m.html, "parse_mode": tgbotapi.ModeHTML}
		p.AddBool("disable_web_page_preview", true)
		p.AddNonZero("message_thread_id", to.Thread)
		if to.Reply != 0 {
			p.AddNonZero("reply_to_message_id", to.Reply)
			p.AddBool("allow_sending_without_reply", true)
		}
		if m.markup != nil {
			if err := p.AddInterface("reply_markup", m.markup); err != nil {
				return err
			}
		}
		p.AddNonZero64("chat_id", chat)
		resp, err := api.MakeRequest("sendMessage", p)
		if e := apiError(err); e != nil && e.MigrateToChatID != 0 && e.MigrateToChatID != chat {
			a.migrate(to.Chat, e.MigrateToChatID)
			chat = e.MigrateToChatID
			p.AddNonZero64("chat_id", chat)
			resp, err = api.MakeRequest("sendMessage", p)
		}
		if err != nil {
			return err
		}
		// The message is sent; an answer we cannot read must not resend it.
		if json.Unmarshal(resp.Result, &sent) != nil {
			sent = tgbotapi.Message{}
		}
		if sent.Chat == nil {
			sent.Chat = &tgbotapi.Chat{ID: chat}
		}
		return nil
	})
	return sent, err
}

// removeKeyboard removes the inline keyboard of a message (a failure is
// only logged: a stale press still gets "that question is closed").
func (a *Adapter) removeKeyboard(ctx context.Context, user int64, k keyboardRef) {
	a.mu.Lock()
	if a.keyboards[user] == k {
		delete(a.keyboards, user)
	}
	a.mu.Unlock()
	err := a.call(ctx, "editMessageReplyMarkup", func(api botAPI) error {
		_, err := api.Request(tgbotapi.EditMessageReplyMarkupConfig{BaseEdit: tgbotapi.BaseEdit{ChatID: k.chat, MessageID: k.msg}})
		if isNotModified(err) {
			return nil
		}
		return err
	})
	if err != nil {
		a.log.Warn("telegram keyboard not removed", "chat", k.chat, "err", err)
	}
}

// dropKeyboard removes the user's live keyboard, if any.
func (a *Adapter) dropKeyboard(ctx context.Context, user int64) {
	a.mu.Lock()
	k, ok := a.keyboards[user]
	a.mu.Unlock()
	if ok {
		a.removeKeyboard(ctx, user, k)
	}
}

func (a *Adapter) block(chat int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.blocked) >= maxTracked {
		clear(a.blocked)
	}
	a.blocked[chat] = true
}

func (a *Adapter) unblock(chat int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.blocked, chat)
}

func (a *Adapter) isBlocked(chat int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.blocked[a.chatLocked(chat)] || a.blocked[chat]
}

// chat follows a group's move to a supergroup.
func (a *Adapter) chat(id int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.chatLocked(id)
}

func (a *Adapter) chatLocked(id int64) int64 {
	if to, ok := a.moved[id]; ok {
		return to
	}
	return id
}

func (a *Adapter) migrate(from, to int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.moved) >= maxTracked {
		clear(a.moved)
	}
	a.moved[from] = to
}

// render turns a reply into Telegram messages: escaped HTML, split to fit,
// buttons on the last part.
func (a *Adapter) render(r flows.Reply) []outMsg {
	markup := a.keyboard(r.Buttons)
	text := r.Text
	if strings.TrimSpace(text) == "" {
		if markup == nil {
			return nil
		}
		text = a.cfg.Texts.EmptyReply
	}
	parts := splitText(text, maxMessageLen)
	msgs := make([]outMsg, len(parts))
	for i, p := range parts {
		msgs[i] = outMsg{html: safetext.HTML(p)}
	}
	msgs[len(msgs)-1].markup = markup
	return msgs
}

// keyboard draws buttons as an inline keyboard: two to a row when every
// label is short, else one. A button whose ID does not fit callback_data
// (1–64 bytes) is logged and left out. Labels are plain text to Telegram.
func (a *Adapter) keyboard(buttons []flows.Button) *tgbotapi.InlineKeyboardMarkup {
	var ok []flows.Button
	perRow := 2
	for _, b := range buttons {
		if len(b.ID) == 0 || len(b.ID) > maxCallbackData || strings.TrimSpace(b.Label) == "" {
			a.log.Error("telegram button left out: its ID must be 1-64 bytes and its label not empty", "id_bytes", len(b.ID))
			continue
		}
		if utf8.RuneCountInString(b.Label) > shortLabel {
			perRow = 1
		}
		ok = append(ok, b)
	}
	if len(ok) == 0 {
		return nil
	}
	var rows [][]tgbotapi.InlineKeyboardButton
	for i := 0; i < len(ok); i += perRow {
		var row []tgbotapi.InlineKeyboardButton
		for _, b := range ok[i:min(i+perRow, len(ok))] {
			row = append(row, tgbotapi.NewInlineKeyboardButtonData(b.Label, b.ID))
		}
		rows = append(rows, row)
	}
	return &tgbotapi.InlineKeyboardMarkup{InlineKeyboard: rows}
}

// splitText splits s into parts of at most limit UTF-16 code units (how
// Telegram counts), on line boundaries; a single line longer than limit
// is cut on rune boundaries. Parts that would be blank are dropped.
func splitText(s string, limit int) []string {
	if utf16Len(s) <= limit {
		return []string{s}
	}
	var parts []string
	var cur strings.Builder
	curLen := 0
	flush := func() {
		if p := strings.Trim(cur.String(), "\n"); strings.TrimSpace(p) != "" {
			parts = append(parts, p)
		}
		cur.Reset()
		curLen = 0
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		n := utf16Len(line)
		if curLen+n > limit {
			flush()
		}
		for n > limit {
			head, tail := cutUTF16(line, limit)
			cur.WriteString(head)
			flush()
			line, n = tail, utf16Len(tail)
		}
		cur.WriteString(line)
		curLen += n
	}
	flush()
	return parts
}

// utf16Len is the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// cutUTF16 cuts s after at most limit UTF-16 code units, on a rune
// boundary.
func cutUTF16(s string, limit int) (head, tail string) {
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > limit {
			return s[:i], s[i:]
		}
		n += w
	}
	return s, ""
}
