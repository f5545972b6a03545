package discord

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// threadArchive is the auto-archive time of the threads the bot opens, in
// minutes: an idle conversation leaves the channel's list after an hour.
const threadArchive = 60

// job is one user action being answered.
type job struct {
	msg bot.Message
	to  address                // where the conversation lives
	ix  *discordgo.Interaction // nil for a message
	// acked: the interaction was acknowledged, so its token can follow up.
	acked bool
	// deferred: acknowledged with "thinking…" (type 5), which the first
	// reply replaces (or which is edited to point at thread, or deleted).
	deferred bool
	// private: answer the interaction with ephemeral messages (a server
	// channel where no thread could be opened).
	private bool
	// thread: a thread opened for this command; @original points at it.
	thread string

	mu sync.Mutex // guards what follows, and the delivery of replies
	// edited: the deferred response has been replaced.
	edited bool
	// used: the engine sent the turn's replies through Send.
	used bool
	// said counts the replies delivered.
	said int
}

// onMessage answers a message: in a DM always, in a thread the bot opened
// for the author, and elsewhere in a server when it mentions the bot (in
// a new thread for the author when one can be opened). Messages of bots,
// of the bot itself, of webhooks and of the system are ignored.
func (a *Adapter) onMessage(ctx context.Context, m *discordgo.Message) {
	me := a.botUser()
	if m.Author == nil || m.Author.Bot || m.Author.System || m.Author.ID == me || m.WebhookID != "" {
		return
	}
	if m.Type != discordgo.MessageTypeDefault && m.Type != discordgo.MessageTypeReply {
		return
	}
	mentioned := false
	for _, u := range m.Mentions {
		if u != nil && u.ID == me && me != "" {
			mentioned = true
		}
	}
	text := stripMention(m.Content, me)
	blank := strings.TrimSpace(text) == ""
	nonText := blank && (len(m.Attachments) > 0 || len(m.StickerItems) > 0)
	if m.GuildID != "" && a.cfg.ModChannelID != "" {
		if inMod, ticket := a.modPlace(ctx, m.ChannelID, a.isModerator(m.Member)); inMod {
			if ticket {
				a.onModMessage(ctx, m, text, nonText)
			}
			return // the moderators' own talk: never for the assistant
		}
	}
	if blank && !nonText && !mentioned {
		return // nothing to read (without the message content intent, server messages arrive empty)
	}
	j := &job{msg: bot.Message{
		ID: "m" + m.ID, Channel: Channel, UserID: m.Author.ID, UserName: m.Author.Username,
		Text: text, NonText: nonText, Time: m.Timestamp,
	}}
	j.to = address{channel: m.ChannelID, user: m.Author.ID}
	if m.GuildID != "" {
		owner, ours := a.threads.get(m.ChannelID)
		switch {
		case ours:
			if owner != "" && owner != m.Author.ID && !mentioned {
				return // someone else (a moderator, say) in a user's thread
			}
		case !mentioned:
			return
		default:
			th, err := a.openThread(ctx, m.ChannelID, m.ID, m.Author)
			if err != nil {
				a.log.Info("no thread opened; answering in the channel", "channel", m.ChannelID, "err", err)
			} else {
				j.to.channel = th
			}
			if blank && !nonText {
				j.msg.Command = flows.CmdStart
			}
		}
	}
	a.runTurn(ctx, j)
}

// stripMention removes the bot's mentions (<@id>, <@!id>) from a text.
func stripMention(s, me string) string {
	if me == "" {
		return strings.TrimSpace(s)
	}
	s = strings.ReplaceAll(s, "<@"+me+">", " ")
	s = strings.ReplaceAll(s, "<@!"+me+">", " ")
	return strings.TrimSpace(s)
}

// onInteraction answers a slash command or a button press. Each is
// acknowledged first, within Discord's 3 seconds: a command with
// "thinking…" (private in a server channel, where the conversation moves
// to a thread), a press by replacing the pressed message's buttons (the
// question is answered) — then the turn runs and the replies follow.
// Ticket buttons and /mod are moderators' actions (onModInteraction);
// /forget is answered privately in a server.
func (a *Adapter) onInteraction(ctx context.Context, i *discordgo.Interaction, from origin) {
	user := i.User
	if i.Member != nil && i.Member.User != nil {
		user = i.Member.User
	}
	if user == nil || user.Bot {
		return
	}
	if a.onModInteraction(ctx, i, user, from) {
		return
	}
	inThread := from.thread
	serverChannel := i.GuildID != "" && !inThread
	if _, ours := a.threads.get(i.ChannelID); ours {
		serverChannel = false
	}
	j := &job{ix: i, msg: bot.Message{ID: "i" + i.ID, Channel: Channel, UserID: user.ID, UserName: user.Username}}
	j.to = address{channel: i.ChannelID, user: user.ID}
	switch i.Type {
	case discordgo.InteractionApplicationCommand:
		data := i.ApplicationCommandData()
		j.msg.Command = flows.CmdHelp
		switch data.Name {
		case flows.CmdTroubleshoot, flows.CmdHuman, flows.CmdHelp, flows.CmdForget:
			j.msg.Command = data.Name
		}
		if j.msg.Command == flows.CmdForget {
			// Said privately wherever it is used in a server, and no
			// thread is opened for it.
			j.private = i.GuildID != ""
			serverChannel = false
		}
		for _, o := range data.Options {
			if o != nil && o.Name == optProblem && o.Type == discordgo.ApplicationCommandOptionString {
				j.msg.Text = o.StringValue()
			}
		}
		var flags discordgo.MessageFlags
		if serverChannel || j.private {
			flags = discordgo.MessageFlagsEphemeral
		}
		j.acked = a.ack(ctx, i, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Flags: flags, AllowedMentions: noMentions()},
		})
		j.deferred = j.acked
		if serverChannel {
			const canThread = discordgo.PermissionCreatePublicThreads | discordgo.PermissionSendMessagesInThreads
			if i.AppPermissions == 0 || i.AppPermissions&canThread == canThread {
				th, err := a.openThread(ctx, i.ChannelID, "", user)
				if err == nil {
					j.to.channel, j.thread = th, th
				} else {
					a.log.Info("no thread opened; answering privately", "channel", i.ChannelID, "err", err)
				}
			}
			j.private = j.thread == ""
		}
	case discordgo.InteractionMessageComponent:
		data := i.MessageComponentData()
		owner, id := parseCustomID(data.CustomID)
		if owner != "" && owner != user.ID {
			a.ack(ctx, i, &discordgo.InteractionResponse{
				Type: discordgo.InteractionResponseChannelMessageWithSource,
				Data: &discordgo.InteractionResponseData{
					Content: escapeText(a.cfg.Texts.NotYours), Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions(),
				},
			})
			return
		}
		j.msg.Button = id
		resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		if i.Message != nil {
			// The question is answered: its message loses its buttons.
			resp = &discordgo.InteractionResponse{
				Type: discordgo.InteractionResponseUpdateMessage,
				Data: &discordgo.InteractionResponseData{
					Content: i.Message.Content, Components: []discordgo.MessageComponent{}, AllowedMentions: noMentions(),
				},
			}
		}
		j.acked = a.ack(ctx, i, resp)
		j.private = serverChannel
	default:
		return // autocomplete, modals: not used
	}
	a.runTurn(ctx, j)
}

// ack acknowledges an interaction within Discord's 3 seconds.
func (a *Adapter) ack(ctx context.Context, i *discordgo.Interaction, r *discordgo.InteractionResponse) bool {
	ctx, cancel := context.WithTimeout(ctx, ackDeadline)
	defer cancel()
	err := a.call(ctx, opAck, func(opts ...discordgo.RequestOption) error {
		return a.rest.InteractionRespond(i, r, opts...)
	})
	if err == nil || apiCode(err) == discordgo.ErrCodeInteractionHasAlreadyBeenAcknowledged {
		return true
	}
	a.log.Warn("interaction not acknowledged; replies go to the channel", "interaction", i.ID, "err", err)
	return false
}

// openThread opens a public thread for a user, from their message when
// fromMessage is set, and adds them to it.
func (a *Adapter) openThread(ctx context.Context, channelID, fromMessage string, user *discordgo.User) (string, error) {
	name := user.GlobalName
	if name == "" {
		name = user.Username
	}
	name = strings.Join(strings.Fields(sanitize(name)), " ")
	name = clipUTF16(strings.ReplaceAll(a.cfg.Texts.ThreadName, "{user}", name), maxName)
	var th *discordgo.Channel
	err := a.call(ctx, opThread, func(opts ...discordgo.RequestOption) error {
		var err error
		if fromMessage != "" {
			th, err = a.rest.MessageThreadStartComplex(channelID, fromMessage, &discordgo.ThreadStart{Name: name, AutoArchiveDuration: threadArchive}, opts...)
		} else {
			th, err = a.rest.ThreadStartComplex(channelID, &discordgo.ThreadStart{
				Name: name, AutoArchiveDuration: threadArchive, Type: discordgo.ChannelTypeGuildPublicThread,
			}, opts...)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if th == nil || !isSnowflake(th.ID) {
		return "", errors.New("discord: start_thread: no thread in the answer")
	}
	a.threads.add(th.ID, user.ID)
	if err := a.call(ctx, opThreadJoin, func(opts ...discordgo.RequestOption) error {
		return a.rest.ThreadMemberAdd(th.ID, user.ID, opts...)
	}); err != nil {
		a.log.Warn("user not added to their thread", "thread", th.ID, "err", err)
	}
	return th.ID, nil
}

// turnKey marks the context of a turn the adapter runs; its value is the
// turn's job, so that Send delivers the turn's own replies the way the
// job calls for (replacing a command's "thinking…", privately for a
// Private reply) as soon as the engine sends them.
type turnKey struct{}

// runTurn runs the engine on a job, one turn of a user at a time so the
// replies arrive in order. The engine delivers the replies through Send
// during the turn; a Handler that is not the channel's Sender has them
// delivered from its Turn.
func (a *Adapter) runTurn(ctx context.Context, j *job) {
	j.msg.Address = bot.Address(j.to.String())
	unlock := a.lock(j.msg.UserID)
	defer unlock()
	a.obs.MessageIn(Channel)
	turn, err := a.h.Handle(context.WithValue(ctx, turnKey{}, j), j.msg)
	if err != nil {
		a.log.Error("turn failed", "user", j.msg.UserID, "id", j.msg.ID, "err", a.redact(err.Error()))
	}
	j.mu.Lock()
	used, said := j.used, j.said
	j.mu.Unlock()
	var replies []flows.Reply
	if !used {
		replies = turn.Replies // the adapter is not the engine's Sender
	}
	if len(replies) == 0 && err != nil && said == 0 && !turn.Duplicate {
		replies = []flows.Reply{{Text: a.cfg.Texts.Failed}}
	}
	if len(replies) > 0 {
		_ = a.sendTurn(ctx, j, replies)
	}
	a.finish(ctx, j)
}

// sendTurn delivers replies of a job's turn: through the interaction
// when there is one (a Private reply, or every reply of a private job, as
// an ephemeral follow-up; the first reply to a command replacing its
// "thinking…"), else to the conversation's channel. It stops at the first
// reply that cannot be delivered.
func (a *Adapter) sendTurn(ctx context.Context, j *job, replies []flows.Reply) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.used = true
	for _, r := range replies {
		one := []flows.Reply{r}
		var err error
		switch {
		case j.ix != nil && j.acked && (r.Private || j.private):
			err = a.sendInteraction(ctx, j, one, true)
		case j.ix != nil && j.deferred && j.thread == "":
			err = a.sendInteraction(ctx, j, one, false)
		default:
			err = a.sendChannel(ctx, j.to, one)
		}
		if err != nil {
			return err
		}
		j.said++
	}
	return nil
}

// finish tidies a command's deferred response after its turn: it points
// at the thread opened for the conversation, or, when nothing replaced
// "thinking…", it is removed.
func (a *Adapter) finish(ctx context.Context, j *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.deferred || j.edited {
		return
	}
	if j.thread != "" {
		text := strings.ReplaceAll(escapeText(a.cfg.Texts.ThreadOpened), "{thread}", "<#"+j.thread+">")
		if err := a.editOriginal(ctx, j.ix, message{content: text}); err != nil {
			a.log.Warn("thread link not shown", "interaction", j.ix.ID, "err", err)
		}
		return
	}
	if err := a.call(ctx, opDelete, func(opts ...discordgo.RequestOption) error {
		return a.rest.InteractionResponseDelete(j.ix, opts...)
	}); err != nil {
		a.log.Warn("deferred response not removed", "interaction", j.ix.ID, "err", err)
	}
}

// Send implements bot.Sender: it posts replies to the conversation's
// channel at once. Replies of a turn the adapter runs, to that turn's
// address, go the turn's way (see sendTurn). A reply that cannot be
// delivered is logged, counted and returned as an error, so the engine
// keeps it for Engine.Redeliver.
func (a *Adapter) Send(ctx context.Context, to bot.Address, replies []flows.Reply) error {
	if j, ok := ctx.Value(turnKey{}).(*job); ok && j.msg.Address == to {
		return a.sendTurn(ctx, j, replies)
	}
	addr, ok := parseAddress(to)
	if !ok {
		a.obs.Undelivered(Channel)
		a.log.Error("reply not delivered: not a Discord address", "address", clip(string(to), 64))
		return errors.New("discord: not a Discord address")
	}
	return a.sendChannel(ctx, addr, replies)
}

// sendChannel posts replies as messages in a channel.
func (a *Adapter) sendChannel(ctx context.Context, to address, replies []flows.Reply) error {
	var errs []error
	for _, r := range replies {
		msgs, dropped := render(r, to.user)
		a.warnDropped(dropped)
		for _, m := range msgs {
			err := a.call(ctx, opSend, func(opts ...discordgo.RequestOption) error {
				_, err := a.rest.ChannelMessageSendComplex(to.channel, &discordgo.MessageSend{
					Content: m.content, Components: m.components, AllowedMentions: noMentions(),
				}, opts...)
				return err
			})
			if err != nil {
				a.undelivered(opSend, to.channel, err)
				errs = append(errs, err)
				break
			}
			a.obs.MessageOut(Channel)
		}
	}
	return errors.Join(errs...)
}

// sendInteraction answers through the interaction's webhook: the first
// message replaces a deferred "thinking…", the others follow up;
// private ones are ephemeral (seen only by the user).
func (a *Adapter) sendInteraction(ctx context.Context, j *job, replies []flows.Reply, private bool) error {
	var errs []error
	for _, r := range replies {
		msgs, dropped := render(r, j.to.user)
		a.warnDropped(dropped)
		for _, m := range msgs {
			var err error
			if j.deferred && !j.edited {
				if err = a.editOriginal(ctx, j.ix, m); err == nil {
					j.edited = true
				}
			} else {
				err = a.followup(ctx, j.ix, m, private)
			}
			if err != nil {
				a.undelivered(opFollowup, j.to.channel, err)
				errs = append(errs, err)
				break
			}
			a.obs.MessageOut(Channel)
		}
	}
	return errors.Join(errs...)
}

func (a *Adapter) editOriginal(ctx context.Context, i *discordgo.Interaction, m message) error {
	comps := m.components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return a.call(ctx, opEdit, func(opts ...discordgo.RequestOption) error {
		_, err := a.rest.InteractionResponseEdit(i, &discordgo.WebhookEdit{
			Content: &m.content, Components: &comps, AllowedMentions: noMentions(),
		}, opts...)
		return err
	})
}

func (a *Adapter) followup(ctx context.Context, i *discordgo.Interaction, m message, private bool) error {
	var flags discordgo.MessageFlags
	if private {
		flags = discordgo.MessageFlagsEphemeral
	}
	return a.call(ctx, opFollowup, func(opts ...discordgo.RequestOption) error {
		_, err := a.rest.FollowupMessageCreate(i, true, &discordgo.WebhookParams{
			Content: m.content, Components: m.components, Flags: flags, AllowedMentions: noMentions(),
		}, opts...)
		return err
	})
}

// undelivered logs and counts a reply that finally could not be sent.
func (a *Adapter) undelivered(op, channel string, err error) {
	a.obs.Undelivered(Channel)
	a.log.Error("reply not delivered", "op", op, "channel", channel, "status", httpStatus(err), "err", err)
}

func (a *Adapter) warnDropped(n int) {
	if n > 0 {
		a.log.Warn("buttons left out of a Discord message", "count", n)
	}
}
