package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/adapters/internal/fifo"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/safetext"
)

// The moderators' chat: with Config.ModChatID set, the channel is a
// bot.ModPlace. Tickets from every channel are posted there with Claim,
// Resolve and Return buttons (in a forum topic of their own when the chat
// has topics); moderators press them, use /claim N and the other
// commands, and write to a user by replying to the ticket message or
// writing in its topic. Nothing said in that chat reaches the assistant.

// Limits and timings of the moderators' chat.
const (
	chatInfoTTL    = 5 * time.Minute  // how long the chat's administrators and topics setting are trusted
	chatInfoRetry  = 30 * time.Second // how soon a failed look-up is tried again
	maxAdmins      = 1000             // administrators kept (Telegram allows 50)
	maxModMessages = 10_000           // messages of the bot remembered with their ticket
	maxAnswerLen   = 200              // characters of a callback query's answer
)

// modCommands are the moderators' commands, registered for the moderators'
// chat only (BotCommandScopeChat).
var modCommands = []tgbotapi.BotCommand{
	{Command: bot.ModList, Description: "List open tickets"},
	{Command: bot.ModClaim, Description: "Take a ticket: /claim N"},
	{Command: bot.ModResolve, Description: "Mark a ticket solved: /resolve N"},
	{Command: bot.ModReturn, Description: "Hand the user back to the assistant: /return N"},
	{Command: bot.ModNote, Description: "Add a private note: /note N text"},
	{Command: bot.ModRelay, Description: "Write to the user: /reply N text"},
	{Command: "modhelp", Description: "Moderator commands"},
}

var _ bot.ModPlace = (*Adapter)(nil)

// errNoModChat is returned by the bot.ModPlace methods when no moderators'
// chat is configured.
var errNoModChat = errors.New("telegram: no moderators' chat is configured (TELEGRAM_MOD_CHAT_ID)")

// ticketRef is where a ticket is shown in the moderators' chat, encoded in
// the ref the engine stores as "<chat>:m<message>" (the ticket message) or
// "<chat>:t<topic>" (a forum topic of its own). Both can be rebuilt from a
// moderator's message, the one it replies to or the topic it is in, which
// is how the engine finds the ticket again (Store.TicketByRef), also after
// a restart.
type ticketRef struct {
	Chat   int64
	Msg    int // the ticket message, when the ticket has no topic
	Thread int // the ticket's forum topic (message_thread_id)
}

func (r ticketRef) String() string {
	if r.Thread != 0 {
		return fmt.Sprintf("%d:t%d", r.Chat, r.Thread)
	}
	return fmt.Sprintf("%d:m%d", r.Chat, r.Msg)
}

func parseRef(s string) (ticketRef, error) {
	chat, where, ok := strings.Cut(s, ":")
	bad := fmt.Errorf("telegram: ticket ref %q is not a Telegram ref", s)
	if !ok || len(where) < 2 {
		return ticketRef{}, bad
	}
	c, err1 := strconv.ParseInt(chat, 10, 64)
	n, err2 := strconv.Atoi(where[1:])
	if err1 != nil || err2 != nil || c == 0 || n <= 0 {
		return ticketRef{}, bad
	}
	switch where[0] {
	case 'm':
		return ticketRef{Chat: c, Msg: n}, nil
	case 't':
		return ticketRef{Chat: c, Thread: n}, nil
	}
	return ticketRef{}, bad
}

// modState is what the adapter knows about the moderators' chat.
type modState struct {
	chat  int64
	users map[int64]bool // Config.ModUserIDs

	fetch sync.Mutex // one look-up of the chat at a time

	mu       sync.Mutex
	admins   map[int64]bool
	adminsAt time.Time // when admins is from; zero: never fetched
	forum    bool
	forumAt  time.Time
	// Messages of the bot in the chat → the ticket they are about (0 for
	// none), so that a reply to any of them finds its ticket; and the
	// ticket message of each topic, for Update. Both are lost on restart:
	// refs and the ticket message's own format still work then.
	tickets *fifo.Map[msgKey, int64]
	topics  *fifo.Map[ticketRef, int]
}

type msgKey struct {
	chat int64
	msg  int
}

func newModState(cfg Config) *modState {
	if cfg.ModChatID == 0 {
		return nil
	}
	s := &modState{
		chat:    cfg.ModChatID,
		users:   map[int64]bool{},
		tickets: fifo.New[msgKey, int64](maxModMessages),
		topics:  fifo.New[ticketRef, int](maxModMessages),
	}
	for _, id := range cfg.ModUserIDs {
		s.users[id] = true
	}
	return s
}

func (s *modState) remember(chat int64, msg int, ticket int64) {
	if msg == 0 {
		return
	}
	s.mu.Lock()
	s.tickets.Put(msgKey{chat, msg}, ticket)
	s.mu.Unlock()
}

func (s *modState) ticketOf(chat int64, msg int) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tickets.Get(msgKey{chat, msg})
}

func (s *modState) setTopicMsg(r ticketRef, msg int) {
	s.mu.Lock()
	s.topics.Put(r, msg)
	s.mu.Unlock()
}

func (s *modState) topicMsg(r ticketRef) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, _ := s.topics.Get(r)
	return msg
}

// Name implements bot.ModPlace.
func (a *Adapter) Name() string { return Channel }

// Register makes the adapter the Telegram channel's Sender and, when a
// moderators' chat is configured, a moderators' place of the engine.
func (a *Adapter) Register(e interface {
	Register(string, bot.Sender)
	AddModPlace(bot.ModPlace)
}) {
	e.Register(Channel, a)
	if a.mod != nil {
		e.AddModPlace(a)
	}
}

// startModerating registers the moderators' commands for their chat and
// checks that the bot can reach it. Failures are only logged.
func (a *Adapter) startModerating(ctx context.Context) {
	chat := a.chat(a.mod.chat)
	err := a.call(ctx, "setMyCommands", func(api botAPI) error {
		_, err := api.Request(tgbotapi.NewSetMyCommandsWithScope(tgbotapi.NewBotCommandScopeChat(chat), modCommands...))
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.log.Warn("telegram moderators' commands not registered", "chat", chat, "err", err)
	}
	forum, err := a.lookUpForum(ctx)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		a.log.Error("telegram moderators' chat not reachable: add the bot to it and check "+EnvModChatID, "chat", chat, "err", err)
	default:
		a.log.Info("telegram moderators' chat ready", "chat", chat, "topics", forum)
	}
}

// isModChat reports whether c is the moderators' chat.
func (a *Adapter) isModChat(c *tgbotapi.Chat) bool {
	return a.mod != nil && c != nil && (c.ID == a.mod.chat || c.ID == a.chat(a.mod.chat))
}

// Post implements bot.ModPlace: the ticket goes to the moderators' chat
// with its buttons, in a new forum topic "Ticket #N" when the chat has
// topics (and the bot may create them; else in the chat itself).
func (a *Adapter) Post(ctx context.Context, t bot.Ticket, v bot.TicketView) (string, error) {
	if a.mod == nil {
		return "", errNoModChat
	}
	chat := a.chat(a.mod.chat)
	ref := ticketRef{Chat: chat}
	if a.isForum(ctx) {
		thread, err := a.createTopic(ctx, chat, fmt.Sprintf("Ticket #%d", t.ID))
		if err != nil {
			a.log.Warn("telegram ticket topic not created; the ticket is posted in the chat", "ticket", t.ID, "err", err)
		}
		ref.Thread = thread
	}
	sent, err := a.sendMessage(ctx, address{Chat: chat, Thread: ref.Thread, Group: true}, a.ticketMessage(v, false))
	if err != nil {
		a.obs.Undelivered(Channel)
		a.log.Error("telegram ticket not posted", "ticket", t.ID, "chat", chat, "err", err)
		return "", err
	}
	a.obs.MessageOut(Channel)
	if sent.MessageID == 0 {
		return "", fmt.Errorf("telegram: ticket %d posted, but Telegram's answer had no message ID", t.ID)
	}
	ref.Chat = sent.Chat.ID
	a.mod.remember(ref.Chat, sent.MessageID, t.ID)
	if ref.Thread != 0 {
		a.mod.setTopicMsg(ref, sent.MessageID)
	} else {
		ref.Msg = sent.MessageID
	}
	return ref.String(), nil
}

// Update implements bot.ModPlace: the ticket message is edited to the new
// text and buttons. The ticket message of a topic is known only to the
// process that posted it; after a restart the new state is posted in the
// topic instead.
func (a *Adapter) Update(ctx context.Context, t bot.Ticket, ref string, v bot.TicketView) error {
	if a.mod == nil {
		return errNoModChat
	}
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	msg := r.Msg
	if r.Thread != 0 {
		msg = a.mod.topicMsg(r)
	}
	if msg == 0 {
		sent, err := a.sendMessage(ctx, address{Chat: r.Chat, Thread: r.Thread, Group: true}, a.ticketMessage(v, false))
		if err != nil {
			a.obs.Undelivered(Channel)
			a.log.Error("telegram ticket update not posted", "ticket", t.ID, "chat", r.Chat, "err", err)
			return err
		}
		a.obs.MessageOut(Channel)
		a.mod.remember(sent.Chat.ID, sent.MessageID, t.ID)
		a.mod.setTopicMsg(r, sent.MessageID)
		return nil
	}
	m := a.ticketMessage(v, true)
	err = a.call(ctx, "editMessageText", func(api botAPI) error {
		p := tgbotapi.Params{"text": m.html, "parse_mode": tgbotapi.ModeHTML}
		p.AddNonZero64("chat_id", a.chat(r.Chat))
		p.AddNonZero("message_id", msg)
		p.AddBool("disable_web_page_preview", true)
		if err := p.AddInterface("reply_markup", m.markup); err != nil {
			return err
		}
		_, err := api.MakeRequest("editMessageText", p)
		if isNotModified(err) {
			return nil
		}
		return err
	})
	if err != nil {
		a.obs.Undelivered(Channel)
		a.log.Error("telegram ticket message not updated", "ticket", t.ID, "chat", r.Chat, "err", err)
	}
	return err
}

// Notify implements bot.ModPlace: the line is sent in reply to the ticket
// message, or in the ticket's topic.
func (a *Adapter) Notify(ctx context.Context, t bot.Ticket, ref, text string) error {
	if a.mod == nil {
		return errNoModChat
	}
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	return a.sendMod(ctx, address{Chat: r.Chat, Thread: r.Thread, Reply: r.Msg, Group: true}, text, t.ID)
}

// ticketMessage renders a ticket view: its first line bold (which is how
// a ticket message is recognised when it is replied to), the text cut to
// Telegram's limit, its buttons. For an edit, a view without buttons gets
// an empty keyboard, which removes the old one.
func (a *Adapter) ticketMessage(v bot.TicketView, edit bool) outMsg {
	text := strings.TrimSpace(v.Text)
	if text == "" {
		text = "Ticket"
	}
	if utf16Len(text) > maxMessageLen {
		text, _ = cutUTF16(text, maxMessageLen-1)
		text += "…"
	}
	head, rest, _ := strings.Cut(text, "\n")
	out := outMsg{html: "<b>" + safetext.HTML(head) + "</b>", markup: a.keyboard(v.Buttons)}
	if rest != "" {
		out.html += "\n" + safetext.HTML(rest)
	}
	if out.markup == nil && edit {
		out.markup = &tgbotapi.InlineKeyboardMarkup{InlineKeyboard: [][]tgbotapi.InlineKeyboardButton{}}
	}
	return out
}

// sendMod sends plain text to the moderators' chat, escaped and split to
// fit, and remembers the messages as being about ticket (0: none).
func (a *Adapter) sendMod(ctx context.Context, to address, text string, ticket int64) error {
	for _, part := range splitText(text, maxMessageLen) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		sent, err := a.sendMessage(ctx, to, outMsg{html: safetext.HTML(part)})
		if err != nil {
			a.obs.Undelivered(Channel)
			a.log.Error("telegram message to the moderators not delivered", "chat", to.Chat, "ticket", ticket, "err", err)
			return err
		}
		a.obs.MessageOut(Channel)
		a.mod.remember(sent.Chat.ID, sent.MessageID, ticket)
		to.Reply = 0
	}
	return nil
}

// createTopic creates a forum topic and returns its message_thread_id.
func (a *Adapter) createTopic(ctx context.Context, chat int64, name string) (int, error) {
	var topic struct {
		ThreadID int `json:"message_thread_id"`
	}
	err := a.call(ctx, "createForumTopic", func(api botAPI) error {
		p := tgbotapi.Params{"name": name}
		p.AddNonZero64("chat_id", chat)
		resp, err := api.MakeRequest("createForumTopic", p)
		if err != nil {
			return err
		}
		return json.Unmarshal(resp.Result, &topic)
	})
	if err == nil && topic.ThreadID == 0 {
		err = errors.New("telegram: createForumTopic: no message_thread_id in the answer")
	}
	return topic.ThreadID, err
}

// isForum reports whether the moderators' chat has topics (getChat
// is_forum), looked up now and then; the last answer known (at first
// false) when it cannot be looked up.
func (a *Adapter) isForum(ctx context.Context) bool {
	s := a.mod
	s.mu.Lock()
	forum, fresh := s.forum, recent(s.forumAt)
	s.mu.Unlock()
	if fresh {
		return forum
	}
	forum, err := a.lookUpForum(ctx)
	if err != nil {
		a.log.Warn("telegram moderators' chat not looked up; tickets go without topics", "err", err)
	}
	return forum
}

// lookUpForum asks Telegram whether the moderators' chat has topics and
// remembers the answer (a failure for a short while).
func (a *Adapter) lookUpForum(ctx context.Context) (bool, error) {
	s := a.mod
	s.fetch.Lock()
	defer s.fetch.Unlock()
	var chat struct {
		IsForum bool `json:"is_forum"`
	}
	err := a.askModChat(ctx, "getChat", &chat)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.forumAt = time.Now().Add(-chatInfoTTL + chatInfoRetry)
		return s.forum, err
	}
	s.forum, s.forumAt = chat.IsForum, time.Now()
	return chat.IsForum, nil
}

// askModChat calls a Bot API method about the moderators' chat (getChat,
// getChatAdministrators) and decodes its result into v.
func (a *Adapter) askModChat(ctx context.Context, method string, v any) error {
	return a.call(ctx, method, func(api botAPI) error {
		p := tgbotapi.Params{}
		p.AddNonZero64("chat_id", a.chat(a.mod.chat))
		resp, err := api.MakeRequest(method, p)
		if err != nil {
			return err
		}
		return json.Unmarshal(resp.Result, v)
	})
}

// recent reports whether what was looked up at is still trusted (zero:
// never looked up).
func recent(at time.Time) bool {
	return !at.IsZero() && time.Since(at) < chatInfoTTL
}

// isModerator reports whether a user may act on tickets: listed in
// Config.ModUserIDs, the user of a private moderators' chat, or an
// administrator of the moderators' group (getChatAdministrators, trusted
// for a few minutes).
func (a *Adapter) isModerator(ctx context.Context, user int64) bool {
	s := a.mod
	if s.users[user] || (s.chat > 0 && user == s.chat) {
		return true
	}
	if s.chat > 0 {
		return false
	}
	s.mu.Lock()
	admin, fresh := s.admins[user], recent(s.adminsAt)
	s.mu.Unlock()
	if fresh {
		return admin
	}
	s.fetch.Lock()
	defer s.fetch.Unlock()
	s.mu.Lock()
	admin, fresh = s.admins[user], recent(s.adminsAt)
	s.mu.Unlock()
	if fresh { // fetched while we waited
		return admin
	}
	var members []tgbotapi.ChatMember
	err := a.askModChat(ctx, "getChatAdministrators", &members)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		// Keep what we knew; ask again soon.
		a.log.Warn("telegram moderators' chat administrators not looked up", "err", err)
		s.adminsAt = time.Now().Add(-chatInfoTTL + chatInfoRetry)
		return s.admins[user]
	}
	admins := make(map[int64]bool, len(members))
	for _, m := range members[:min(len(members), maxAdmins)] {
		if m.User != nil && (m.Status == "creator" || m.Status == "administrator") {
			admins[m.User.ID] = true
		}
	}
	s.admins, s.adminsAt = admins, time.Now()
	return admins[user]
}

// handleModMessage handles a message in the moderators' chat. Commands
// go to the engine as moderators' actions; a plain text that replies to a
// ticket message (or a line about the ticket), or is written in a
// ticket's topic, goes to the user of the ticket. Anything else is the
// moderators' own chatter and is ignored.
func (a *Adapter) handleModMessage(ctx context.Context, m *tgbotapi.Message, thread int) {
	if m.From == nil || m.From.IsBot || m.Chat == nil {
		return // anonymous administrators post as a bot and cannot be told apart
	}
	where := a.ticketAt(m, thread)
	text := m.Text
	var act bot.ModAction
	if strings.HasPrefix(text, "/") {
		_, _, target, ok := parseCommand(text)
		if !ok || (target != "" && !strings.EqualFold(target, a.self.UserName)) {
			return // not a command, or another bot's
		}
		if act, ok = bot.ParseModCommand(text); !ok {
			return
		}
	} else {
		switch {
		case !where.found:
			if where.botMsg {
				a.sendMod(ctx, modReplyTo(m, thread), a.cfg.Texts.ModHint, 0)
			}
			return
		case strings.TrimSpace(text) == "":
			if hasContent(m) {
				a.sendMod(ctx, modReplyTo(m, thread), a.cfg.Texts.ModNotText, where.ticket)
			}
			return
		}
		act = bot.ModAction{Op: bot.ModRelay, Text: text}
	}
	if act.Ticket == 0 && act.Op != bot.ModList && act.Op != bot.ModHelp {
		act.Ticket, act.Ref = where.ticket, where.ref
		if act.Ticket == 0 && act.Ref == "" {
			act.Op = bot.ModHelp // which ticket? the help says how to name it
		}
	}
	act.MsgID = fmt.Sprintf("m%d:%d", m.Chat.ID, m.MessageID)
	a.moderate(ctx, act, m.From, modReplyTo(m, thread), false, nil)
}

// modReplyTo addresses a reply to a moderator's message.
func modReplyTo(m *tgbotapi.Message, thread int) address {
	return address{Chat: m.Chat.ID, User: m.From.ID, Thread: thread, Reply: m.MessageID, Group: m.Chat.ID < 0}
}

// ticketPlace is the ticket a moderator's message is about, when it can
// be told: by ID (a message of the bot this process sent) or by ref (the
// topic, or the ticket message replied to).
type ticketPlace struct {
	found  bool
	ticket int64
	ref    string
	botMsg bool // it replies to a message of the bot
}

func (a *Adapter) ticketAt(m *tgbotapi.Message, thread int) ticketPlace {
	chat := m.Chat.ID
	q := m.ReplyToMessage
	toBot := q != nil && q.From != nil && q.From.ID == a.self.ID
	if thread != 0 {
		// A topic the bot posted a ticket in, or (after a restart) one the
		// bot created: there a message that replies to nothing replies to
		// the topic's creation, a message of the bot.
		ref := ticketRef{Chat: chat, Thread: thread}
		if a.mod.topicMsg(ref) != 0 || toBot {
			return ticketPlace{found: true, ref: ref.String()}
		}
		return ticketPlace{}
	}
	if !toBot {
		return ticketPlace{}
	}
	if id, ok := a.mod.ticketOf(chat, q.MessageID); ok {
		return ticketPlace{found: id != 0, ticket: id, botMsg: true}
	}
	if isTicketMessage(q) {
		return ticketPlace{found: true, ref: ticketRef{Chat: chat, Msg: q.MessageID}.String(), botMsg: true}
	}
	return ticketPlace{botMsg: true}
}

// isTicketMessage recognises a ticket message of the bot by its format:
// it opens with a bold line (see ticketMessage); lines about a ticket and
// answers to moderators are plain.
func isTicketMessage(q *tgbotapi.Message) bool {
	for _, e := range q.Entities {
		if e.Type == "bold" && e.Offset == 0 {
			return true
		}
	}
	return false
}

// handleModCallback handles a press on a ticket's button. The query is
// answered exactly once: a refusal as an alert, other answers as a short
// notice, or, when too long for one, as a message in the chat.
func (a *Adapter) handleModCallback(ctx context.Context, cq *tgbotapi.CallbackQuery, thread int) {
	answered := false
	answer := func(text string, alert bool) {
		if answered {
			return
		}
		answered = true
		a.answerQuery(ctx, cq.ID, text, alert)
	}
	defer answer("", false)
	if cq.From == nil || cq.Message == nil || cq.Message.Chat == nil {
		return
	}
	op, ticket, ok := bot.ParseModButton(cq.Data)
	if !ok {
		return
	}
	m := cq.Message
	to := address{Chat: m.Chat.ID, User: cq.From.ID, Thread: thread, Reply: m.MessageID, Group: m.Chat.ID < 0}
	act := bot.ModAction{MsgID: "cb" + cq.ID, Op: op, Ticket: ticket}
	a.moderate(ctx, act, cq.From, to, true, answer)
}

// moderate completes a moderator's action with who did it, runs it, and
// shows the engine's answer: as the press's answer (button) or a reply.
func (a *Adapter) moderate(ctx context.Context, act bot.ModAction, from *tgbotapi.User, to address, button bool, answer func(string, bool)) {
	act.Place = Channel
	act.Moderator = "telegram:" + strconv.FormatInt(from.ID, 10)
	act.Name = modName(from)
	act.IsModerator = a.isModerator(ctx, from.ID)
	r, err := a.h.Moderate(ctx, act)
	if err != nil {
		a.log.Warn("telegram moderator action failed", "op", act.Op, "ticket", act.Ticket, "err", a.scrub(err))
	}
	if r.Text == "" {
		return
	}
	if button && utf16Len(r.Text) <= maxAnswerLen {
		answer(r.Text, r.Refused)
		return
	}
	if button {
		answer("", false)
	}
	var ticket int64
	if r.Ticket != nil {
		ticket = r.Ticket.ID
	}
	a.sendMod(ctx, to, r.Text, ticket)
}

// modName is how a moderator is named to users and other moderators:
// their first name (not their @username, which lets anyone write to them).
func modName(u *tgbotapi.User) string {
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	if u.UserName != "" {
		return "@" + u.UserName
	}
	return "Moderator"
}
