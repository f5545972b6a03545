package discord

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// The moderators' channel: with Config.ModChannelID set, the adapter is a
// bot.ModPlace. Tickets from every channel (Discord, Telegram, …) are
// posted there with Claim, Resolve and Return buttons, each with a thread
// of its own; members with Config.ModRoleID press the buttons, use /mod,
// and write to the user in the ticket's thread. Nothing said in the
// channel or its threads reaches the assistant.

// Settings of the moderators' channel.
const (
	cmdMod        = "mod" // the moderators' slash command
	optTicket     = "ticket"
	optText       = "text"
	maxModText    = 1800 // characters of a /mod note or reply
	maxModName    = 64   // characters of a moderator's name shown to users
	ticketArchive = 1440 // minutes before an idle ticket thread is archived
)

// errNoModChannel is returned by the bot.ModPlace methods when no
// moderators' channel is configured.
var errNoModChannel = fmt.Errorf("discord: no moderators' channel is configured (%s)", EnvModChannelID)

// modKind is what a channel is to the moderators' place.
type modKind uint8

const (
	notMod    modKind = iota // elsewhere
	modTalk                  // a thread of the moderators' own in their channel
	modTicket                // the thread of a ticket
)

// ticketRef is where a ticket is shown: the moderators' channel and the
// ticket message, as the engine stores it ("channel:message"). The
// ticket's thread, started from that message, has the message's ID (as
// Discord documents), so a moderator's message in the thread leads back
// to the ticket (Store.TicketByRef), also after a restart.
type ticketRef struct {
	channel, message string
}

func (r ticketRef) String() string { return r.channel + ":" + r.message }

func parseTicketRef(s string) (ticketRef, error) {
	ch, msg, ok := strings.Cut(s, ":")
	if !ok || !isSnowflake(ch) || !isSnowflake(msg) {
		return ticketRef{}, fmt.Errorf("discord: ticket ref %q is not a Discord ref", clip(s, 64))
	}
	return ticketRef{channel: ch, message: msg}, nil
}

// Name implements bot.ModPlace.
func (a *Adapter) Name() string { return Channel }

// Register makes the adapter the Discord channel's Sender and, when a
// moderators' channel is configured, a moderators' place of the engine.
func (a *Adapter) Register(e interface {
	Register(string, bot.Sender)
	AddModPlace(bot.ModPlace)
}) {
	e.Register(Channel, a)
	if a.cfg.ModChannelID != "" {
		e.AddModPlace(a)
	}
}

// Post implements bot.ModPlace: the ticket message (text and buttons) in
// the moderators' channel, and a thread on it where moderators talk with
// the user. Without the thread (the bot may not open one) the ticket is
// still posted; moderators then write with /mod reply.
func (a *Adapter) Post(ctx context.Context, t bot.Ticket, v bot.TicketView) (string, error) {
	channel := a.cfg.ModChannelID
	if channel == "" {
		return "", errNoModChannel
	}
	m, clipped := ticketMessage(v)
	var msg *discordgo.Message
	err := a.call(ctx, opTicket, func(opts ...discordgo.RequestOption) error {
		var err error
		msg, err = a.rest.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
			Content: m.content, Components: m.components, AllowedMentions: noMentions(),
		}, opts...)
		return err
	})
	if err != nil {
		return "", err
	}
	if msg == nil || !isSnowflake(msg.ID) {
		return "", errors.New("discord: post_ticket: no message in the answer")
	}
	a.obs.MessageOut(Channel)
	ref := ticketRef{channel: channel, message: msg.ID}
	name := clipUTF16(strings.ReplaceAll(a.cfg.Texts.TicketThread, "{id}", strconv.FormatInt(t.ID, 10)), maxName)
	var th *discordgo.Channel
	err = a.call(ctx, opThread, func(opts ...discordgo.RequestOption) error {
		var err error
		th, err = a.rest.MessageThreadStartComplex(channel, msg.ID, &discordgo.ThreadStart{Name: name, AutoArchiveDuration: ticketArchive}, opts...)
		return err
	})
	switch {
	case err != nil:
		a.log.Warn("no thread opened for a ticket; moderators can write with /mod reply", "ticket", t.ID, "err", err)
	case th == nil || th.ID != msg.ID:
		a.log.Warn("the ticket's thread does not have the ticket message's ID; messages in it won't reach the user", "ticket", t.ID)
	default:
		a.modThreads.add(th.ID, modTicket)
		if clipped {
			// The whole ticket, in pieces, where moderators read on.
			if err := a.postMod(ctx, th.ID, v.Text, ""); err != nil {
				a.log.Warn("the whole ticket not shown in its thread", "ticket", t.ID, "err", err)
			}
		}
	}
	return ref.String(), nil
}

// Update implements bot.ModPlace: the ticket message gets the ticket's new
// text and buttons (none once it is closed).
func (a *Adapter) Update(ctx context.Context, t bot.Ticket, ref string, v bot.TicketView) error {
	r, err := parseTicketRef(ref)
	if err != nil {
		return err
	}
	m, _ := ticketMessage(v)
	comps := m.components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return a.call(ctx, opTicketEdit, func(opts ...discordgo.RequestOption) error {
		_, err := a.rest.ChannelMessageEditComplex(&discordgo.MessageEdit{
			Channel: r.channel, ID: r.message, Content: &m.content, Components: &comps, AllowedMentions: noMentions(),
		}, opts...)
		return err
	})
}

// Notify implements bot.ModPlace: the line goes to the ticket's thread,
// or, when the ticket has none, next to the ticket message as a reply.
func (a *Adapter) Notify(ctx context.Context, t bot.Ticket, ref, text string) error {
	r, err := parseTicketRef(ref)
	if err != nil {
		return err
	}
	err = a.postMod(ctx, r.message, text, "")
	if apiCode(err) == discordgo.ErrCodeUnknownChannel {
		err = a.postMod(ctx, r.channel, text, r.message)
	}
	return err
}

// ticketMessage renders a ticket view as one message: the text escaped
// and, when over Discord's limit, clipped (clipped reports it), with the
// ticket buttons, which belong to no one user.
func ticketMessage(v bot.TicketView) (m message, clipped bool) {
	content := escapeText(v.Text)
	if utf16Len(content) > maxContent {
		content, clipped = cutLine(content, maxContent-1)+"…", true
	}
	m.content = content
	m.components, _ = buttonRows(v.Buttons, "")
	return m, clipped
}

// postMod posts a text in the moderators' place, the first part as a
// reply to replyTo when set. Nothing in it pings anyone.
func (a *Adapter) postMod(ctx context.Context, channel, text, replyTo string) error {
	msgs, _ := render(flows.Reply{Text: text}, "")
	for i, m := range msgs {
		send := &discordgo.MessageSend{Content: m.content, AllowedMentions: noMentions()}
		if i == 0 && replyTo != "" {
			no := false
			send.Reference = &discordgo.MessageReference{MessageID: replyTo, ChannelID: channel, FailIfNotExists: &no}
		}
		err := a.call(ctx, opModPost, func(opts ...discordgo.RequestOption) error {
			_, err := a.rest.ChannelMessageSendComplex(channel, send, opts...)
			return err
		})
		if err != nil {
			return err
		}
		a.obs.MessageOut(Channel)
	}
	return nil
}

// checkModChannel tells the operator, at start, whether the moderators'
// channel can be reached. A failure is only logged: tickets then fail to
// show, and the engine logs each.
func (a *Adapter) checkModChannel(ctx context.Context) {
	id := a.cfg.ModChannelID
	var ch *discordgo.Channel
	err := a.call(ctx, opChannel, func(opts ...discordgo.RequestOption) error {
		var err error
		ch, err = a.rest.Channel(id, opts...)
		return err
	})
	switch {
	case ctx.Err() != nil:
	case err != nil || ch == nil:
		a.log.Error("Discord moderators' channel not reachable: add the bot to it and check "+EnvModChannelID, "channel", id, "err", err)
	case ch.Type != discordgo.ChannelTypeGuildText && ch.Type != discordgo.ChannelTypeGuildNews:
		a.log.Error("Discord moderators' channel is not a text channel: tickets need one ("+EnvModChannelID+")", "channel", id, "type", int(ch.Type))
	default:
		a.log.Info("Discord moderators' channel ready", "channel", id, "guild", ch.GuildID)
	}
}

// modPlace says whether a channel is in the moderators' place, and
// whether it is a ticket's thread. A channel the adapter has not seen (a
// ticket's thread after a restart) is looked up when lookup is set, once.
func (a *Adapter) modPlace(ctx context.Context, channelID string, lookup bool) (inMod, ticket bool) {
	mod := a.cfg.ModChannelID
	switch {
	case mod == "":
		return false, false
	case channelID == mod:
		return true, false
	}
	if k, ok := a.modThreads.get(channelID); ok {
		return k != notMod, k == modTicket
	}
	if _, ours := a.threads.get(channelID); ours || !lookup {
		return false, false
	}
	var ch *discordgo.Channel
	err := a.call(ctx, opChannel, func(opts ...discordgo.RequestOption) error {
		var err error
		ch, err = a.rest.Channel(channelID, opts...)
		return err
	})
	if err != nil || ch == nil {
		a.log.Debug("channel not looked up", "channel", channelID, "err", err)
		return false, false
	}
	k := notMod
	if ch.IsThread() && ch.ParentID == mod {
		k = modTalk
		if ch.OwnerID != "" && ch.OwnerID == a.botUser() {
			k = modTicket
		}
	}
	a.modThreads.add(channelID, k)
	return k != notMod, k == modTicket
}

// isModerator reports whether a server member has the moderators' role.
func (a *Adapter) isModerator(m *discordgo.Member) bool {
	return a.cfg.ModRoleID != "" && m != nil && slices.Contains(m.Roles, a.cfg.ModRoleID)
}

// moderatorName is the name a moderator is shown by: their nickname in the
// server, else their display name, else their user name.
func moderatorName(u *discordgo.User, m *discordgo.Member) string {
	name := u.Username
	switch {
	case m != nil && m.Nick != "":
		name = m.Nick
	case u.GlobalName != "":
		name = u.GlobalName
	}
	return clipUTF16(strings.Join(strings.Fields(sanitize(name)), " "), maxModName)
}

// onModMessage relays what a moderator writes in a ticket's thread to the
// user, on whatever channel they are. A refusal (not their ticket, closed)
// is answered in the thread; messages of non-moderators are ignored.
func (a *Adapter) onModMessage(ctx context.Context, m *discordgo.Message, text string, nonText bool) {
	if !a.isModerator(m.Member) {
		a.log.Info("message in a ticket's thread from a non-moderator ignored", "thread", m.ChannelID, "user", m.Author.ID)
		return
	}
	if strings.TrimSpace(text) == "" {
		switch {
		case nonText:
			if err := a.postMod(ctx, m.ChannelID, a.cfg.Texts.ModNotText, m.ID); err != nil {
				a.log.Warn("moderator not answered", "thread", m.ChannelID, "err", err)
			}
		case !a.content.Load():
			a.log.Warn("a moderator's message in a ticket's thread has no text: without the message content intent moderators must write with /mod reply", "thread", m.ChannelID)
		}
		return
	}
	unlock := a.lock("mod:" + m.ChannelID)
	defer unlock()
	r := a.moderate(ctx, bot.ModAction{
		MsgID: "m" + m.ID, Moderator: Channel + ":" + m.Author.ID, Name: moderatorName(m.Author, m.Member), IsModerator: true,
		Op: bot.ModRelay, Ref: ticketRef{channel: a.cfg.ModChannelID, message: m.ChannelID}.String(), Text: text,
	})
	if r.Text == "" {
		return
	}
	if err := a.postMod(ctx, m.ChannelID, r.Text, m.ID); err != nil {
		a.log.Warn("moderator not answered", "thread", m.ChannelID, "err", err)
	}
}

// onModInteraction handles an interaction when it is a moderators' one —
// a press on a ticket button, /mod, or a user command in the moderators'
// place (answered with the moderators' help) — and reports whether it was.
func (a *Adapter) onModInteraction(ctx context.Context, i *discordgo.Interaction, user *discordgo.User, from origin) bool {
	act := bot.ModAction{Place: Channel, MsgID: "i" + i.ID, Moderator: Channel + ":" + user.ID,
		Name: moderatorName(user, i.Member), IsModerator: a.isModerator(i.Member)}
	switch i.Type {
	case discordgo.InteractionMessageComponent:
		owner, id := parseCustomID(i.MessageComponentData().CustomID)
		op, ticket, ok := bot.ParseModButton(id)
		if owner != "" || !ok {
			return false
		}
		act.Op, act.Ticket = op, ticket
		a.modButton(ctx, i, act)
		return true
	case discordgo.InteractionApplicationCommand:
		data := i.ApplicationCommandData()
		mod := a.cfg.ModChannelID
		inMod, ticket := a.modPlace(ctx, i.ChannelID, false)
		if !inMod && mod != "" && from.parent == mod {
			// A thread of the moderators' channel not seen yet: maybe a
			// ticket's (the engine tells when it is not).
			inMod, ticket = true, true
		}
		switch {
		case data.Name == cmdMod:
			sub := modSubcommand(data)
			act.Op, act.Ticket, act.Text = sub.Op, sub.Ticket, sub.Text
		case inMod && data.Name != flows.CmdForget:
			act.Op = bot.ModHelp
		default:
			return false
		}
		if ticket && mod != "" {
			act.Ref = ticketRef{channel: mod, message: i.ChannelID}.String()
		}
		a.modCommand(ctx, i, act)
		return true
	}
	return false
}

// modButton carries out a press on a ticket button. The press is
// acknowledged at once without changing the message (the engine updates
// it when the ticket changes); the moderator is answered privately.
func (a *Adapter) modButton(ctx context.Context, i *discordgo.Interaction, act bot.ModAction) {
	acked := a.ack(ctx, i, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
	r := a.moderate(ctx, act)
	if r.Text == "" || !acked {
		return
	}
	if err := a.followup(ctx, i, message{content: escapeText(r.Text)}, true); err != nil {
		a.log.Warn("moderator not answered", "interaction", i.ID, "op", act.Op, "err", err)
	}
}

// modCommand carries out /mod: "thinking…" privately at once, then the
// answer in its place.
func (a *Adapter) modCommand(ctx context.Context, i *discordgo.Interaction, act bot.ModAction) {
	acked := a.ack(ctx, i, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()},
	})
	r := a.moderate(ctx, act)
	if !acked {
		return
	}
	text := r.Text
	if text == "" && act.Op == bot.ModRelay && !r.Refused {
		text = a.cfg.Texts.ModSent
	}
	j := &job{ix: i, acked: true, deferred: true, private: true, to: address{channel: i.ChannelID}}
	if text != "" {
		_ = a.sendTurn(ctx, j, []flows.Reply{{Text: text}})
	}
	a.finish(ctx, j)
}

// moderate hands an action to the engine; a failure is logged and the
// moderator told.
func (a *Adapter) moderate(ctx context.Context, act bot.ModAction) bot.ModReply {
	act.Place = Channel
	r, err := a.h.Moderate(ctx, act)
	if err != nil {
		a.log.Error("moderator action failed", "op", act.Op, "ticket", act.Ticket, "who", act.Moderator, "err", a.redact(err.Error()))
		if r.Text == "" {
			r.Text = a.cfg.Texts.Failed
		}
	}
	return r
}

// modSubcommand reads /mod's subcommand and its options.
func modSubcommand(data discordgo.ApplicationCommandInteractionData) bot.ModAction {
	act := bot.ModAction{Op: bot.ModHelp}
	if len(data.Options) == 0 || data.Options[0] == nil || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return act
	}
	sub := data.Options[0]
	switch sub.Name {
	case bot.ModList, bot.ModClaim, bot.ModResolve, bot.ModReturn, bot.ModNote, bot.ModRelay:
		act.Op = sub.Name
	}
	for _, o := range sub.Options {
		if o == nil {
			continue
		}
		switch o.Name {
		case optTicket:
			if v, ok := o.Value.(float64); ok && v >= 1 && v <= 1<<53 {
				act.Ticket = int64(v)
			}
		case optText:
			act.Text, _ = o.Value.(string)
		}
	}
	return act
}

// modCommand is /mod, the moderators' command, in servers only. Everyone
// sees it unless the server restricts it (Server Settings, Integrations);
// the role is checked on every use.
func modCommand() *discordgo.ApplicationCommand {
	one := 1.0
	ticket := &discordgo.ApplicationCommandOption{
		Type: discordgo.ApplicationCommandOptionInteger, Name: optTicket, MinValue: &one,
		Description: "The ticket number (in a ticket's thread: that ticket)",
	}
	text := func(desc string) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: optText,
			Description: desc, Required: true, MaxLength: maxModText}
	}
	sub := func(name, desc string, opts ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: name, Description: desc, Options: opts}
	}
	return &discordgo.ApplicationCommand{
		Name: cmdMod, Description: "Moderators: work the hand-off tickets",
		Contexts:         &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild},
		IntegrationTypes: &[]discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall},
		Options: []*discordgo.ApplicationCommandOption{
			sub(bot.ModList, "List the open tickets"),
			sub(bot.ModClaim, "Take a ticket", ticket),
			sub(bot.ModResolve, "Mark a ticket solved (the user is asked to rate the help)", ticket),
			sub(bot.ModReturn, "Hand the user back to the assistant", ticket),
			sub(bot.ModNote, "Add a note to a ticket that only moderators see", text("The note"), ticket),
			sub(bot.ModRelay, "Write to the user of a ticket", text("What the user gets"), ticket),
			sub(bot.ModHelp, "The moderators' commands"),
		},
	}
}
