package discord

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

const ticketThread = "880000000000000077" // a ticket's thread: the ticket message's ID

// modUnit is unitAdapter with a moderators' channel, whose ticket thread
// ticketThread is known.
func modUnit(t *testing.T, h Handler) (*Adapter, *fakeAPI, *syncBuffer) {
	t.Helper()
	a, api, _, logs := unitAdapter(t, h)
	a.cfg.ModChannelID, a.cfg.ModRoleID = modChan, modRole
	api.threadIsMessage = true
	a.modThreads.add(ticketThread, modTicket)
	return a, api, logs
}

func modMember(nick string) *discordgo.Member {
	return &discordgo.Member{Nick: nick, Roles: []string{"999999999999999999", modRole}}
}

func wantCalls(t *testing.T, api *fakeAPI, want ...string) {
	t.Helper()
	calls := api.log()
	if len(calls) != len(want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	for i := range calls {
		if !strings.HasPrefix(calls[i], want[i]) {
			t.Errorf("call %d: %s\nwant prefix: %s", i, calls[i], want[i])
		}
		if strings.Contains(calls[i], "PINGS") {
			t.Errorf("call %d may ping: %s", i, calls[i])
		}
	}
}

func TestTicketPostUpdateNotify(t *testing.T) {
	ctx := context.Background()
	a, api, logs := modUnit(t, &recorder{})
	buttons := []flows.Button{{ID: "t.claim.7", Label: "Claim"}, {ID: "t.resolve.7", Label: "Resolve"}, {ID: "t.return.7", Label: "Return to assistant"}}
	ref, err := a.Post(ctx, bot.Ticket{ID: 7}, bot.TicketView{Text: "Ticket #7 from **x** @everyone\nSaid: hi", Buttons: buttons})
	if err != nil {
		t.Fatal(err)
	}
	const msg = "880000000000000001"
	if ref != modChan+":"+msg {
		t.Errorf("ref %q", ref)
	}
	wantCalls(t, api,
		opSend+" "+modChan+` "Ticket #7 from \\*\\*x\\*\\* @\u200beveryone\nSaid: hi" [t.claim.7,t.resolve.7,t.return.7]`,
		opThread+" "+modChan+" "+msg+" Ticket #7")
	if inMod, ticket := a.modPlace(ctx, msg, false); !inMod || !ticket {
		t.Errorf("the ticket's thread is not known as one")
	}

	// Update edits the ticket message; closed, it has no buttons.
	if err := a.Update(ctx, bot.Ticket{ID: 7}, ref, bot.TicketView{Text: "Ticket #7\nStatus: resolved"}); err != nil {
		t.Fatal(err)
	}
	// Notify writes in the thread; without one, next to the ticket message.
	if err := a.Notify(ctx, bot.Ticket{ID: 7}, ref, "⭐ rated 5/5"); err != nil {
		t.Fatal(err)
	}
	api.fail[opSend+" "+msg] = &discordgo.RESTError{Response: &http.Response{StatusCode: 404}, Message: &discordgo.APIErrorMessage{Code: discordgo.ErrCodeUnknownChannel}}
	if err := a.Notify(ctx, bot.Ticket{ID: 7}, ref, "a line"); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, api, api.log()[0], api.log()[1],
		opTicketEdit+" "+modChan+" "+msg+` "Ticket #7\nStatus: resolved" []`,
		opSend+" "+msg+` "⭐ rated 5/5" []`,
		opSend+" "+msg+` "a line"`,
		opSend+" "+modChan+` "a line" [] reply-to=`+msg)

	// Bad refs are errors, not calls.
	for _, bad := range []string{"", "x:y", modChan, "12:-3"} {
		if a.Update(ctx, bot.Ticket{}, bad, bot.TicketView{Text: "x"}) == nil || a.Notify(ctx, bot.Ticket{}, bad, "x") == nil {
			t.Errorf("ref %q accepted", bad)
		}
	}
	if strings.Contains(logs.String(), "⭐") || strings.Contains(logs.String(), "a line") {
		t.Errorf("message text in the logs:\n%s", logs)
	}
}

func TestTicketPostLongAndWithoutThread(t *testing.T) {
	ctx := context.Background()
	a, api, logs := modUnit(t, &recorder{})
	long := "Ticket #8 from bob\n" + strings.Repeat("Said: "+strings.Repeat("y", 94)+"\n", 30) // 3000 characters
	if _, err := a.Post(ctx, bot.Ticket{ID: 8}, bot.TicketView{Text: long}); err != nil {
		t.Fatal(err)
	}
	calls := api.log()
	if len(calls) != 4 || !strings.HasPrefix(calls[1], opThread) || !strings.HasPrefix(calls[2], opSend+" 880000000000000001 ") {
		t.Fatalf("calls:\n%s", strings.Join(calls, "\n"))
	}
	if first := calls[0]; !strings.Contains(first, `…"`) || len(first) > 2100 {
		t.Errorf("the ticket message is not clipped: %d bytes", len(first))
	}

	// No thread: the ticket is posted all the same.
	a, api, logs = modUnit(t, &recorder{})
	api.fail[opThread] = &discordgo.RESTError{Response: &http.Response{StatusCode: 403}}
	ref, err := a.Post(ctx, bot.Ticket{ID: 9}, bot.TicketView{Text: "Ticket #9"})
	if err != nil || ref != modChan+":880000000000000001" {
		t.Fatalf("ref %q, err %v", ref, err)
	}
	if !strings.Contains(logs.String(), "no thread opened for a ticket") {
		t.Errorf("logs:\n%s", logs)
	}
	// Not a moderators' place: Post refuses.
	a.cfg.ModChannelID = ""
	if _, err := a.Post(ctx, bot.Ticket{ID: 1}, bot.TicketView{Text: "x"}); err == nil {
		t.Error("posted without a moderators' channel")
	}
}

func TestModButtons(t *testing.T) {
	tests := []struct {
		name   string
		ix     *discordgo.Interaction
		reply  bot.ModReply
		want   *bot.ModAction // nil: not a moderator's action
		button string         // else the user's button handed to the engine
		calls  []string
	}{
		{
			name:  "a moderator claims",
			ix:    press("t.claim.3", modChan, guild, user(mia, "mia")),
			reply: bot.ModReply{Text: "Done: ticket #3 is now claimed."},
			want: &bot.ModAction{Place: Channel, MsgID: "i700000000000000002", Moderator: "discord:" + mia, Name: "Mia M",
				IsModerator: true, Op: bot.ModClaim, Ticket: 3},
			calls: []string{opAck + " type=6", opFollowup + ` "Done: ticket #3 is now claimed." [] ephemeral`},
		},
		{
			name:  "not a moderator",
			ix:    press("t.resolve.3", modChan, guild, user(bob, "bob")),
			reply: bot.ModReply{Text: "Sorry, only moderators can do that.", Refused: true},
			want: &bot.ModAction{Place: Channel, MsgID: "i700000000000000002", Moderator: "discord:" + bob, Name: "bob",
				Op: bot.ModResolve, Ticket: 3},
			calls: []string{opAck + " type=6", opFollowup + ` "Sorry, only moderators can do that." [] ephemeral`},
		},
		{
			name:   "a user's button that looks like a ticket's",
			ix:     press(alice+":t.claim.3", dm, "", user(alice, "alice")),
			button: "t.claim.3",
			calls:  []string{opAck + " type=7", opSend},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{mod: func(bot.ModAction) bot.ModReply { return tt.reply }}
			a, api, _ := modUnit(t, h)
			if tt.ix.Member != nil && tt.ix.Member.User.ID == mia {
				tt.ix.Member = modMember("Mia M")
				tt.ix.Member.User = user(mia, "mia")
			}
			a.onInteraction(context.Background(), tt.ix, origin{})
			acts, msgs := h.actions(), h.messages()
			switch {
			case tt.want != nil && (len(acts) != 1 || acts[0] != *tt.want || len(msgs) != 0):
				t.Errorf("actions %+v, messages %+v\nwant %+v", acts, msgs, *tt.want)
			case tt.want == nil && (len(acts) != 0 || len(msgs) != 1 || msgs[0].Button != tt.button):
				t.Errorf("actions %+v, messages %+v", acts, msgs)
			}
			wantCalls(t, api, tt.calls...)
		})
	}
}

func TestModMessages(t *testing.T) {
	const unknown = "880000000000000099" // a ticket's thread the adapter has not seen
	msg := func(id, channel, author string, member *discordgo.Member, content string) *discordgo.Message {
		m := &discordgo.Message{ID: id, ChannelID: channel, GuildID: guild, Author: user(author, "u"+author[:2]), Member: member, Content: content}
		if strings.Contains(content, "<@"+me+">") {
			m.Mentions = []*discordgo.User{user(me, "bot")}
		}
		return m
	}
	refuse := bot.ModReply{Text: "Ticket #3 is claimed by max; only they can do that.", Refused: true}
	tests := []struct {
		name  string
		msg   *discordgo.Message
		reply bot.ModReply
		want  *bot.ModAction
		calls []string
	}{
		{
			name: "a moderator in a ticket's thread",
			msg:  msg("20", ticketThread, mia, modMember("Mia"), "Hi <@"+me+"> try this"),
			want: &bot.ModAction{Place: Channel, MsgID: "m20", Moderator: "discord:" + mia, Name: "Mia", IsModerator: true,
				Op: bot.ModRelay, Ref: modChan + ":" + ticketThread, Text: "Hi   try this"},
		},
		{
			name:  "refused: answered in the thread",
			msg:   msg("21", ticketThread, mia, modMember(""), "hello"),
			reply: refuse,
			want: &bot.ModAction{Place: Channel, MsgID: "m21", Moderator: "discord:" + mia, Name: "u12", IsModerator: true,
				Op: bot.ModRelay, Ref: modChan + ":" + ticketThread, Text: "hello"},
			calls: []string{opSend + " " + ticketThread + ` "Ticket #3 is claimed by max; only they can do that." [] reply-to=21`},
		},
		{
			name: "not a moderator in a ticket's thread",
			msg:  msg("22", ticketThread, bob, &discordgo.Member{}, "let me in"),
		},
		{
			name: "the moderators' channel, even mentioning the bot",
			msg:  msg("23", modChan, mia, modMember(""), "<@"+me+"> my DMs won't send"),
		},
		{
			name:  "a picture in a ticket's thread",
			msg:   &discordgo.Message{ID: "24", ChannelID: ticketThread, GuildID: guild, Author: user(mia, "mia"), Member: modMember(""), Attachments: []*discordgo.MessageAttachment{{ID: "1"}}},
			calls: []string{opSend + " " + ticketThread + ` "Only text reaches the user. Please describe it in words." [] reply-to=24`},
		},
		{
			name: "a moderator in a ticket's thread not seen yet: looked up",
			msg:  msg("25", unknown, mia, modMember(""), "hello again"),
			want: &bot.ModAction{Place: Channel, MsgID: "m25", Moderator: "discord:" + mia, Name: "u12", IsModerator: true,
				Op: bot.ModRelay, Ref: modChan + ":" + unknown, Text: "hello again"},
			calls: []string{opChannel + " " + unknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{mod: func(bot.ModAction) bot.ModReply { return tt.reply }}
			a, api, _ := modUnit(t, h)
			api.channels = map[string]*discordgo.Channel{unknown: {ID: unknown, Type: discordgo.ChannelTypeGuildPublicThread, ParentID: modChan, OwnerID: me}}
			a.onMessage(context.Background(), tt.msg)
			acts := h.actions()
			if len(h.messages()) != 0 {
				t.Errorf("handed to the assistant: %+v", h.messages())
			}
			if tt.want == nil && len(acts) != 0 || tt.want != nil && (len(acts) != 1 || acts[0] != *tt.want) {
				t.Errorf("actions %+v, want %+v", acts, tt.want)
			}
			wantCalls(t, api, tt.calls...)
			if tt.msg.ChannelID == unknown {
				// Looked up once: the next message goes straight through.
				a.onMessage(context.Background(), msg("26", unknown, mia, modMember(""), "and again"))
				if len(h.actions()) != 2 || len(api.log()) != 1 {
					t.Errorf("second message: actions %d, calls %q", len(h.actions()), api.log())
				}
			}
		})
	}
}

func TestModCommands(t *testing.T) {
	sub := func(name string, opts ...*discordgo.ApplicationCommandInteractionDataOption) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts}
	}
	ticket := &discordgo.ApplicationCommandInteractionDataOption{Name: "ticket", Type: discordgo.ApplicationCommandOptionInteger, Value: 2.0}
	text := &discordgo.ApplicationCommandInteractionDataOption{Name: "text", Type: discordgo.ApplicationCommandOptionString, Value: "checked the account"}
	modBy := func(channel string, opts ...*discordgo.ApplicationCommandInteractionDataOption) *discordgo.Interaction {
		i := command("mod", channel, guild, user(mia, "mia"), opts...)
		i.Member = modMember("")
		i.Member.User = user(mia, "mia")
		return i
	}
	base := bot.ModAction{Place: Channel, MsgID: "i700000000000000001", Moderator: "discord:" + mia, Name: "mia", IsModerator: true}
	with := func(f func(*bot.ModAction)) *bot.ModAction { a := base; f(&a); return &a }
	tests := []struct {
		name   string
		ix     *discordgo.Interaction
		from   origin
		reply  bot.ModReply
		want   *bot.ModAction
		handle string // else: the command handed to the assistant
		calls  []string
	}{
		{
			name:  "/mod note",
			ix:    modBy(modChan, sub("note", text, ticket)),
			reply: bot.ModReply{Text: "Note added to ticket #2."},
			want:  with(func(a *bot.ModAction) { a.Op, a.Ticket, a.Text = bot.ModNote, 2, "checked the account" }),
			calls: []string{opAck + ` type=5 "" [] ephemeral`, opEdit + ` "Note added to ticket #2." []`},
		},
		{
			name: "/mod reply in a ticket's thread: that ticket",
			ix:   modBy(ticketThread, sub("reply", text)),
			from: origin{thread: true, parent: modChan},
			want: with(func(a *bot.ModAction) {
				a.Op, a.Ref, a.Text = bot.ModRelay, modChan+":"+ticketThread, "checked the account"
			}),
			calls: []string{opAck + ` type=5 "" [] ephemeral`, opEdit + ` "Sent to the user." []`},
		},
		{
			name:  "/mod tickets, nothing to say",
			ix:    modBy(chan1, sub("tickets")),
			want:  with(func(a *bot.ModAction) { a.Op = bot.ModList }),
			calls: []string{opAck + ` type=5 "" [] ephemeral`, opDelete},
		},
		{
			name:  "/troubleshoot in the moderators' channel: their help",
			ix:    command("troubleshoot", modChan, guild, user(bob, "bob")),
			reply: bot.ModReply{Text: "Sorry, only moderators can do that.", Refused: true},
			want:  &bot.ModAction{Place: Channel, MsgID: "i700000000000000001", Moderator: "discord:" + bob, Name: "bob", Op: bot.ModHelp},
			calls: []string{opAck + ` type=5 "" [] ephemeral`, opEdit + ` "Sorry, only moderators can do that." []`},
		},
		{
			name:   "/forget in the moderators' channel: done, privately",
			ix:     command("forget", modChan, guild, user(mia, "mia")),
			handle: flows.CmdForget,
			calls:  []string{opAck + ` type=5 "" [] ephemeral`, opEdit + ` "ok" [` + mia + `:1.o.yes]`},
		},
		{
			name:   "/forget in a DM",
			ix:     command("forget", dm, "", user(alice, "alice")),
			handle: flows.CmdForget,
			calls:  []string{opAck + ` type=5 "" []`, opEdit + ` "ok" [` + alice + `:1.o.yes]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{mod: func(bot.ModAction) bot.ModReply { return tt.reply }}
			a, api, _ := modUnit(t, h)
			a.onInteraction(context.Background(), tt.ix, tt.from)
			acts, msgs := h.actions(), h.messages()
			if tt.want != nil && (len(acts) != 1 || acts[0] != *tt.want || len(msgs) != 0) {
				t.Errorf("actions %+v, messages %+v\nwant %+v", acts, msgs, *tt.want)
			}
			if tt.handle != "" && (len(acts) != 0 || len(msgs) != 1 || msgs[0].Command != tt.handle) {
				t.Errorf("actions %+v, messages %+v", acts, msgs)
			}
			wantCalls(t, api, tt.calls...)
		})
	}
}

func TestModSubcommandIsRead(t *testing.T) {
	d := func(opts ...*discordgo.ApplicationCommandInteractionDataOption) discordgo.ApplicationCommandInteractionData {
		return discordgo.ApplicationCommandInteractionData{Name: "mod", Options: opts}
	}
	sub := func(name string, opts ...*discordgo.ApplicationCommandInteractionDataOption) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts}
	}
	n := func(v any) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: "ticket", Type: discordgo.ApplicationCommandOptionInteger, Value: v}
	}
	for _, tt := range []struct {
		name string
		data discordgo.ApplicationCommandInteractionData
		want bot.ModAction
	}{
		{"no subcommand", d(), bot.ModAction{Op: bot.ModHelp}},
		{"unknown", d(sub("ban")), bot.ModAction{Op: bot.ModHelp}},
		{"claim 4", d(sub("claim", n(4.0))), bot.ModAction{Op: bot.ModClaim, Ticket: 4}},
		{"a number that isn't one", d(sub("claim", n("4"))), bot.ModAction{Op: bot.ModClaim}},
		{"negative", d(sub("resolve", n(-1.0))), bot.ModAction{Op: bot.ModResolve}},
		{"nil option", d(sub("return", nil)), bot.ModAction{Op: bot.ModReturn}},
		{"not a subcommand", d(n(3.0)), bot.ModAction{Op: bot.ModHelp}},
	} {
		if got := modSubcommand(tt.data); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCommandsWithModerators(t *testing.T) {
	names := func(cmds []*discordgo.ApplicationCommand) string {
		var out []string
		for _, c := range cmds {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(commands(false)); got != "troubleshoot,human,help,forget" {
		t.Errorf("commands %s", got)
	}
	cmds := commands(true)
	mod := cmds[len(cmds)-1]
	if mod.Name != "mod" || len(*mod.Contexts) != 1 || (*mod.Contexts)[0] != discordgo.InteractionContextGuild {
		t.Errorf("/mod %+v", mod)
	}
	var subs []string
	for _, o := range mod.Options {
		subs = append(subs, o.Name)
	}
	if got := strings.Join(subs, ","); got != "tickets,claim,resolve,return,note,reply,help" {
		t.Errorf("/mod subcommands %s", got)
	}
}

func TestTicketRef(t *testing.T) {
	r, err := parseTicketRef(ticketRef{channel: modChan, message: ticketThread}.String())
	if err != nil || r.channel != modChan || r.message != ticketThread {
		t.Errorf("round trip: %+v, %v", r, err)
	}
	for _, bad := range []string{"", ":", modChan + ":", ":" + modChan, "a:b", modChan + ":" + ticketThread + ":x", "-1:2"} {
		if _, err := parseTicketRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestModeratorName(t *testing.T) {
	u := &discordgo.User{ID: mia, Username: "mia_42", GlobalName: "Mia"}
	for _, tt := range []struct {
		m    *discordgo.Member
		u    *discordgo.User
		want string
	}{
		{nil, u, "Mia"},
		{&discordgo.Member{Nick: "Mia  (mods)\u202e"}, u, "Mia (mods)"},
		{&discordgo.Member{}, &discordgo.User{Username: "mia_42"}, "mia_42"},
		{&discordgo.Member{Nick: strings.Repeat("m", 100)}, u, strings.Repeat("m", maxModName)},
	} {
		if got := moderatorName(tt.u, tt.m); got != tt.want {
			t.Errorf("moderatorName = %q, want %q", got, tt.want)
		}
	}
}
