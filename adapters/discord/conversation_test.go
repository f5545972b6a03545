package discord

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dmdoctor/dmdoctor/adapters/discord/discordtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// These tests run whole conversations: the real engine on the embedded
// knowledge base, the real discordgo, the fake Discord.

func realEngine(t *testing.T) *bot.Engine {
	t.Helper()
	k, m, err := brain.Start("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// threadOf returns the thread the bot opened in a channel.
func threadOf(v discordtest.View, parent string) (discordtest.Thread, bool) {
	for _, th := range v.Threads {
		if th.ParentID == parent {
			return th, true
		}
	}
	return discordtest.Thread{}, false
}

// lastWithButtons returns the last message with buttons in a channel.
func lastWithButtons(ms []discordtest.Message) (discordtest.Message, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if len(ms[i].Buttons) > 0 {
			return ms[i], true
		}
	}
	return discordtest.Message{}, false
}

func byID(v discordtest.View, id string) discordtest.Message {
	for _, m := range v.Messages {
		if m.ID == id {
			return m
		}
	}
	return discordtest.Message{}
}

// pressThrough presses the first button of the newest question until the
// conversation has no question open (or n presses), checking that each
// press is acknowledged by removing the pressed message's buttons and is
// answered. It returns the first question pressed.
func pressThrough(t *testing.T, r *rig, channel, guildID string, thread bool, n int) discordtest.Message {
	t.Helper()
	f := r.fake
	var first discordtest.Message
	for i := range n {
		v := f.Snapshot()
		q, ok := lastWithButtons(v.In(channel))
		if !ok {
			break
		}
		if i == 0 {
			first = q
		}
		before := len(v.In(channel))
		id := f.Press(discordtest.Press{MessageID: q.ID, CustomID: q.Buttons[0][0].CustomID, GuildID: guildID, Thread: thread, User: uAlice})
		v = f.Wait(t, "the press answered", wait, func(v discordtest.View) bool {
			return v.AckType[id] == 7 && len(byID(v, q.ID).Buttons) == 0 && len(v.In(channel)) > before
		})
		if lat := v.AckLatency[id]; lat > ackDeadline {
			t.Errorf("press acknowledged after %v", lat)
		}
		r.quiet()
	}
	return first
}

func TestE2EConversationInAServer(t *testing.T) {
	t.Parallel()
	e := realEngine(t)
	r := start(t, e)
	f := r.fake

	// Commands registered globally.
	v := f.Snapshot()
	cmds := v.CallsTo("PUT", "/applications/"+discordtest.AppID+"/commands")
	if len(cmds) != 1 {
		t.Fatalf("commands registered %d times:\n%s", len(cmds), v.CallLog())
	}
	var reg []struct{ Name string }
	_ = json.Unmarshal(cmds[0].Body, &reg)
	var names []string
	for _, c := range reg {
		names = append(names, c.Name)
	}
	if slices.Sort(names); strings.Join(names, ",") != "forget,help,human,troubleshoot" {
		t.Errorf("commands %v", names)
	}

	// /troubleshoot in a busy channel: a thread for alice.
	ix := f.Slash(discordtest.Command{Name: "troubleshoot", Problem: "TikTok won't let me send messages", ChannelID: chan1, GuildID: guild, User: uAlice})
	v = f.Wait(t, "a thread with the first question", wait, func(v discordtest.View) bool {
		th, ok := threadOf(v, chan1)
		_, q := lastWithButtons(v.In(th.ID))
		return ok && q
	})
	th, _ := threadOf(v, chan1)
	if !slices.Contains(th.Members, alice) || th.FromMessage != "" || !strings.Contains(th.Name, "alice") {
		t.Errorf("thread %+v", th)
	}
	if v.AckType[ix] != 5 || v.AckLatency[ix] > ackDeadline {
		t.Errorf("command acknowledged with %d after %v", v.AckType[ix], v.AckLatency[ix])
	}
	v = f.Wait(t, "the private pointer to the thread", wait, func(v discordtest.View) bool {
		ms := v.In(chan1)
		return len(ms) == 1 && strings.Contains(ms[0].Content, "<#"+th.ID+">")
	})
	if ms := v.In(chan1); !ms[0].Ephemeral || ms[0].Via != "response" {
		t.Errorf("in the channel: %+v (want only the private response)", ms)
	}

	// Press through the questions; then a press on the first, closed one.
	first := pressThrough(t, r, th.ID, guild, true, 12)
	before := len(f.Snapshot().In(th.ID))
	stale := f.Press(discordtest.Press{MessageID: first.ID, CustomID: first.Buttons[0][0].CustomID, GuildID: guild, Thread: true, User: uAlice})
	closed := escapeText(e.KB().Msg("stale"))
	v = f.Wait(t, "a private 'that question is closed'", wait, func(v discordtest.View) bool {
		for _, m := range v.Messages {
			if m.Interaction == stale && m.Ephemeral && m.Content == closed {
				return true
			}
		}
		return false
	})
	r.quiet()
	v = f.Snapshot()
	for _, m := range v.Messages {
		if m.Interaction == stale && !m.Ephemeral {
			t.Errorf("a public answer to a stale press: %q", m.Content)
		}
	}
	if n := len(v.In(th.ID)); n-before != countEphemeral(v.In(th.ID), stale) {
		t.Errorf("the stale press added public messages to the thread")
	}

	// Bob's words in alice's thread are not for the bot; alice's are.
	n := len(v.In(th.ID))
	f.Say(discordtest.UserMessage{ChannelID: th.ID, GuildID: guild, Author: uBob, Content: "hi alice, moderator here"})
	f.Say(discordtest.UserMessage{ChannelID: th.ID, GuildID: guild, Author: uAlice, Content: "thank you!"})
	v = f.Wait(t, "an answer to alice", wait, func(v discordtest.View) bool { return len(v.In(th.ID)) > n })
	for _, m := range v.In(th.ID) {
		t.Logf("%-8s eph=%-5v %q %v", m.Via, m.Ephemeral, clip(m.Content, 70), m.Buttons)
	}
	if got := r.obs.get("in"); got < 3 {
		t.Errorf("messages in: %d", got)
	}
}

func countEphemeral(ms []discordtest.Message, interaction string) int {
	n := 0
	for _, m := range ms {
		if m.Interaction == interaction && m.Ephemeral {
			n++
		}
	}
	return n
}

func TestE2EMentionInAChannel(t *testing.T) {
	t.Parallel()
	r := start(t, realEngine(t))
	f := r.fake
	f.Say(discordtest.UserMessage{ChannelID: chan1, GuildID: guild, Author: uBob, Content: "anyone seen the game last night?"})
	msg := f.Say(discordtest.UserMessage{ChannelID: chan1, GuildID: guild, Author: uAlice, MentionBot: true,
		Content: "<@" + discordtest.BotID + "> my TikTok messages won't send"})
	v := f.Wait(t, "an answer in a thread on alice's message", wait, func(v discordtest.View) bool {
		th, ok := threadOf(v, chan1)
		return ok && len(v.In(th.ID)) > 0
	})
	th, _ := threadOf(v, chan1)
	if th.FromMessage != msg || !slices.Contains(th.Members, alice) {
		t.Errorf("thread %+v", th)
	}
	if ms := v.In(chan1); len(ms) != 0 {
		t.Errorf("the bot wrote in the busy channel: %q", texts(ms))
	}
	pressThrough(t, r, th.ID, guild, true, 2)
	f.Say(discordtest.UserMessage{ChannelID: chan1, GuildID: guild, Author: uBob, Content: "not for the bot"})
	f.Say(discordtest.UserMessage{ChannelID: chan1, GuildID: guild, Author: discordtest.User{ID: "999999999999999999", Username: "otherbot", Bot: true},
		MentionBot: true, Content: "<@" + discordtest.BotID + "> hello bot"})
	last := f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "hello"})
	f.Wait(t, "the DM answered (so the earlier messages were seen)", wait, func(v discordtest.View) bool { return len(v.In(dm)) > 0 })
	v = f.Snapshot()
	if ms := v.In(chan1); len(ms) != 0 || len(v.Threads) != 1 {
		t.Errorf("answered a message not for the bot: %q, %d threads", texts(ms), len(v.Threads))
	}
	_ = last
}

func TestE2EDirectMessagesAndResume(t *testing.T) {
	t.Parallel()
	r := start(t, realEngine(t))
	f := r.fake
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "I can't send messages to my friend on TikTok"})
	f.Wait(t, "a question", wait, func(v discordtest.View) bool { _, ok := lastWithButtons(v.In(dm)); return ok })
	pressThrough(t, r, dm, "", false, 1)

	// Mid-conversation the connection drops; alice presses while the bot
	// is away. The press is replayed on resume (with the dispatch before
	// it, seen already) and answered once.
	v := f.Snapshot()
	q, ok := lastWithButtons(v.In(dm))
	if !ok {
		t.Skip("the conversation ended after one answer")
	}
	before := len(v.In(dm))
	f.ReplayOnResume(1)
	f.Drop()
	id := f.Press(discordtest.Press{MessageID: q.ID, CustomID: q.Buttons[0][0].CustomID, User: uAlice})
	v = f.Wait(t, "the press answered after the resume", wait, func(v discordtest.View) bool {
		return v.AckType[id] == 7 && len(v.In(dm)) > before && len(v.Resumes) == 1
	})
	for ix := range v.AckType {
		if n := len(v.CallsTo("POST", "/interactions/"+ix+"/")); n != 1 {
			t.Errorf("interaction %s answered %d times:\n%s", ix, n, v.CallLog())
		}
	}
	if !strings.Contains(r.logs.String(), "seen before") {
		t.Error("no replayed dispatch was dropped: the fake did not replay")
	}
	after := len(v.In(dm))

	// /help in the DM: "thinking…" replaced by the help, in the open.
	help := f.Slash(discordtest.Command{Name: "help", ChannelID: dm, User: uAlice})
	v = f.Wait(t, "the help", wait, func(v discordtest.View) bool {
		for _, m := range v.In(dm) {
			if m.Interaction == help && m.Via == "response" && m.Content != "" {
				return true
			}
		}
		return false
	})
	for _, m := range v.In(dm) {
		if m.Ephemeral {
			t.Errorf("a private message in a DM: %q", m.Content)
		}
	}
	if len(v.In(dm)) <= after {
		t.Errorf("no help")
	}
}
