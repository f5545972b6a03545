package telegram

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/telegram/telegramtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// The end-to-end tests run the real library against the fake server.

func TestConversationWithButtons(t *testing.T) {
	h := start(t, options{engine: realEngine})
	h.tg.Text(alice.ID, alice, "/start")
	h.rec.wait(t, 1)
	h.tg.Text(alice.ID, alice, "I can't send messages on TikTok, they just keep loading")
	turns := 2
	h.rec.wait(t, turns)
	pressed := map[string]int{} // callback query → pressed message
	for len(pressed) < 12 {
		msg, data := h.tg.LastKeyboard(alice.ID)
		if msg == 0 {
			break
		}
		_, q := h.tg.Press(alice, msg, data[0])
		pressed[q] = msg
		turns++
		h.rec.wait(t, turns)
		h.tg.WaitCalls("answerCallbackQuery", len(pressed))
	}
	if len(pressed) < 2 {
		t.Fatalf("the conversation offered %d button presses; want at least 2", len(pressed))
	}
	answered := map[string]int{}
	for _, p := range h.tg.CallsTo("answerCallbackQuery") {
		answered[p.Get("callback_query_id")]++
		if p.Get("text") != "" {
			t.Errorf("a fresh press was answered %q", p.Get("text"))
		}
	}
	edited := map[string]bool{}
	for _, p := range h.tg.CallsTo("editMessageReplyMarkup") {
		edited[p.Get("message_id")] = true
		if p.Get("reply_markup") != "" {
			t.Errorf("keyboard edited, not removed: %s", p.Get("reply_markup"))
		}
	}
	for q, msg := range pressed {
		if answered[q] != 1 {
			t.Errorf("callback query %s answered %d times", q, answered[q])
		}
		if !edited[strconv.Itoa(msg)] {
			t.Errorf("the keyboard of message %d was not removed after its press", msg)
		}
	}
	for i := range turns {
		if h.rec.turn(i).Stale {
			t.Errorf("turn %d was stale", i)
		}
	}
	checkSent(t, h)
	if got := len(h.tg.CallsTo("sendChatAction")); got < 2 {
		t.Errorf("%d typing indicators; want one per text message", got)
	}
	if cmds := h.tg.CallsTo("setMyCommands"); len(cmds) != 1 || !strings.Contains(cmds[0].Get("commands"), `"troubleshoot"`) {
		t.Errorf("setMyCommands calls: %v", cmds)
	}
	if _, _, _, _, undelivered := h.obs.get(); undelivered != 0 {
		t.Errorf("%d undelivered", undelivered)
	}
}

// checkSent checks every message sent: HTML, not empty, within limits.
func checkSent(t *testing.T, h *harness) {
	t.Helper()
	data := regexp.MustCompile(`"callback_data":"((?:[^"\\]|\\.)*)"`)
	for _, p := range h.tg.CallsTo("sendMessage") {
		if p.Get("parse_mode") != "HTML" {
			t.Errorf("parse_mode %q", p.Get("parse_mode"))
		}
		if text := telegramtest.HTMLText(p.Get("text")); text == "" || utf16Len(text) > maxMessageLen {
			t.Errorf("text of %d characters", utf16Len(text))
		}
		for _, m := range data.FindAllStringSubmatch(p.Get("reply_markup"), -1) {
			if len(m[1]) > maxCallbackData {
				t.Errorf("callback_data %q longer than 64 bytes", m[1])
			}
		}
	}
}

func TestStalePressRealEngine(t *testing.T) {
	h := start(t, options{engine: realEngine})
	h.tg.Text(alice.ID, alice, "my tiktok messages won't send")
	h.rec.wait(t, 1)
	msg, data := h.tg.LastKeyboard(alice.ID)
	var question []string // buttons of the open question ("12.o.yes")
	for _, d := range data {
		if regexp.MustCompile(`^\d+\.`).MatchString(d) {
			question = append(question, d)
		}
	}
	if len(question) < 2 {
		t.Skipf("the first reply has no question with two options: %v", data)
	}
	h.tg.Press(alice, msg, question[0])
	h.rec.wait(t, 2)
	h.tg.WaitCalls("answerCallbackQuery", 1)
	_, q := h.tg.Press(alice, msg, question[1]) // a second tap on the old keyboard
	h.rec.wait(t, 3)
	answers := h.tg.WaitCalls("answerCallbackQuery", 2)
	if !h.rec.turn(2).Stale {
		t.Fatal("the press on the answered question was not stale")
	}
	last := answers[len(answers)-1]
	if last.Get("callback_query_id") != q || last.Get("text") != DefaultTexts.Stale || last.Get("show_alert") != "" {
		t.Errorf("stale press answered %v", last)
	}
	if len(answers) != 2 {
		t.Errorf("%d answers for 2 presses", len(answers))
	}
}

func TestStalePressAnswered(t *testing.T) {
	h := start(t, options{script: func(m bot.Message, n int) bot.Turn {
		if m.Button == "1.o.yes" && n > 2 {
			return bot.Turn{Stale: true, Replies: []flows.Reply{{Text: "That question is already closed."}}}
		}
		return echo(m, n)
	}})
	h.tg.Text(alice.ID, alice, "hello")
	h.rec.wait(t, 1)
	msg := h.tg.LastSent()
	h.tg.Press(alice, msg, "1.o.yes")
	h.rec.wait(t, 2)
	h.tg.WaitCalls("answerCallbackQuery", 1)
	_, q := h.tg.Press(alice, msg, "1.o.yes")
	h.rec.wait(t, 3)
	answers := h.tg.WaitCalls("answerCallbackQuery", 2)
	if a := answers[1]; a.Get("callback_query_id") != q || a.Get("text") != "That question is closed." {
		t.Errorf("second press answered %v", a)
	}
	if answers[0].Get("text") != "" {
		t.Errorf("first press answered %q", answers[0].Get("text"))
	}
	// Only the first press found the keyboard; the second removal was a no-op.
	if n := len(h.tg.CallsTo("editMessageReplyMarkup")); n < 1 {
		t.Errorf("%d keyboard removals", n)
	}
}

func TestGroupRules(t *testing.T) {
	h := start(t, options{})
	tg := h.tg
	tg.Text(group, alice, "hello everyone")
	tg.Text(group, alice, "/troubleshoot@otherbot")
	tg.Text(group, alice, "/foo")
	mention := tg.Text(group, alice, "@dmdoctor_bot my DMs fail")
	cmd := tg.Text(group, alice, "/troubleshoot@dmdoctor_bot it keeps loading")
	help := tg.Text(group, alice, "/help")
	h.rec.wait(t, 3)
	reply := tg.ReplyTo(group, alice, tg.LastSent(), "yes it does")
	tg.Push("message", withField(tg.Message(group, alice, ""), "sticker", sticker()))
	tg.Push("message", withField(tg.Message(group, alice, ""), "new_chat_members", []any{bob.JSON()}))
	tg.Text(group, other, "@dmdoctor_bot I am a bot")
	bobs := tg.Text(group, bob, "hey @DMDoctor_Bot, hi")
	stickerReply := tg.Push("message", withField(withField(tg.Message(group, alice, ""), "sticker", sticker()),
		"reply_to_message", tg.Msg(tg.LastSent())))
	last := tg.Text(group, alice, "thanks @dmdoctor_bot")
	msgs := h.rec.wait(t, 7)
	time.Sleep(20 * time.Millisecond) // let anything wrongly handled show up
	msgs = h.rec.wait(t, 7)
	byID := map[string]bot.Message{}
	for _, m := range msgs {
		byID[m.ID] = m
	}
	want := map[int]bot.Message{
		mention:      {Text: "my DMs fail", UserID: "11"},
		cmd:          {Command: flows.CmdTroubleshoot, Text: "it keeps loading", UserID: "11"},
		help:         {Command: flows.CmdHelp, UserID: "11"},
		reply:        {Text: "yes it does", UserID: "11"},
		bobs:         {Text: "hey , hi", UserID: "22"},
		stickerReply: {NonText: true, UserID: "11"},
		last:         {Text: "thanks", UserID: "11"},
	}
	if len(msgs) != len(want) {
		for _, m := range msgs {
			t.Logf("handled %+v", m)
		}
		t.Fatalf("%d messages handled; want %d", len(msgs), len(want))
	}
	for id, w := range want {
		got, ok := byID["u"+strconv.Itoa(id)]
		if !ok {
			t.Errorf("update %d not handled", id)
			continue
		}
		if got.Text != w.Text || got.Command != w.Command || got.NonText != w.NonText || got.UserID != w.UserID || got.Channel != Channel {
			t.Errorf("update %d: got %+v, want %+v", id, got, w)
		}
		if a, err := parseAddress(got.Address); err != nil || a.Chat != group || !a.Group || a.Reply == 0 {
			t.Errorf("update %d: address %q (%v)", id, got.Address, err)
		}
	}
	if byID["u"+strconv.Itoa(bobs)].UserName != "Bob" || byID["u"+strconv.Itoa(last)].UserName != "@alice" {
		t.Errorf("user names: %q, %q", byID["u"+strconv.Itoa(bobs)].UserName, byID["u"+strconv.Itoa(last)].UserName)
	}
	for _, p := range tg.WaitCalls("sendMessage", 7) {
		if p.Get("reply_to_message_id") == "" || p.Get("allow_sending_without_reply") != "true" {
			t.Errorf("a group reply does not quote the user: %v", p)
		}
	}

	// Bob presses Alice's keyboard: refused, not handled; Alice's press counts.
	kb, _ := tg.LastKeyboard(alice.ID)
	tg.Press(bob, kb, "7.o.yes")
	answers := tg.WaitCalls("answerCallbackQuery", 1)
	if answers[0].Get("text") != DefaultTexts.NotYours {
		t.Errorf("press on someone else's question answered %q", answers[0].Get("text"))
	}
	tg.Press(alice, kb, "7.o.yes")
	msgs = h.rec.wait(t, 8)
	if m := msgs[7]; m.UserID != "11" || m.Button != "7.o.yes" {
		t.Errorf("the 8th turn was %+v", m)
	}
	checkSent(t, h)
}

func withField(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func sticker() map[string]any {
	return map[string]any{"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512, "is_animated": false}
}

func TestPrivateMessages(t *testing.T) {
	h := start(t, options{})
	tg := h.tg
	photo := tg.Push("message", withField(tg.Message(alice.ID, alice, ""), "photo",
		[]any{map[string]any{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}}))
	caption := tg.Message(alice.ID, alice, "")
	caption["photo"] = []any{map[string]any{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}}
	caption["caption"] = "this error <b>shows</b>"
	captioned := tg.Push("message", caption)
	tg.Text(alice.ID, alice, "/help@otherbot")
	start := tg.Text(alice.ID, alice, "/start continue")
	edited := tg.Push("edited_message", withField(tg.Message(alice.ID, alice, "actually it's the wifi"), "edit_date", time.Now().Unix()))
	voice := tg.Push("message", withField(tg.Message(alice.ID, alice, ""), "voice",
		map[string]any{"file_id": "v", "file_unique_id": "v", "duration": 3}))
	plain := tg.Text(alice.ID, alice, "/unknown thing")
	forget := tg.Text(alice.ID, alice, "/forget")
	msgs := h.rec.wait(t, 7)
	want := []bot.Message{
		{ID: "u" + strconv.Itoa(photo), NonText: true},
		{ID: "u" + strconv.Itoa(captioned), Text: "this error <b>shows</b>"},
		{ID: "u" + strconv.Itoa(start), Command: flows.CmdStart, Text: "continue"},
		{ID: "e" + strconv.Itoa(edited), Text: "actually it's the wifi"},
		{ID: "u" + strconv.Itoa(voice), NonText: true},
		{ID: "u" + strconv.Itoa(plain), Text: "/unknown thing"},
		{ID: "u" + strconv.Itoa(forget), Command: flows.CmdForget},
	}
	for i, w := range want {
		g := msgs[i]
		if g.ID != w.ID || g.Text != w.Text || g.Command != w.Command || g.NonText != w.NonText {
			t.Errorf("message %d: got %+v, want %+v", i, g, w)
		}
		if a, _ := parseAddress(g.Address); a.Chat != alice.ID || a.Group || a.Reply != 0 {
			t.Errorf("message %d: private address %q", i, g.Address)
		}
	}
	sent := tg.WaitCalls("sendMessage", 6)
	if got := sent[1].Get("text"); !strings.Contains(got, "this error &lt;b&gt;shows&lt;/b&gt;") {
		t.Errorf("user text not escaped: %q", got)
	}
	for _, p := range sent {
		if p.Get("reply_to_message_id") != "" {
			t.Errorf("a private reply quotes: %v", p)
		}
	}
}

func TestFloodControlWaitsRetryAfter(t *testing.T) {
	h := start(t, options{})
	h.tg.Fail("sendMessage", 1, telegramtest.Fault{Status: 429, Description: "Too Many Requests: retry after 3", RetryAfter: 3})
	h.tg.Text(alice.ID, alice, "hello")
	h.tg.WaitCalls("sendMessage", 1)
	h.rec.wait(t, 1)
	if n := h.tg.AttemptsOf("sendMessage"); n != 2 {
		t.Errorf("%d sendMessage attempts; want 2", n)
	}
	if w := h.waits(); len(w) != 1 || w[0] != 3*time.Second {
		t.Errorf("waited %v; want [3s]", w)
	}
	if _, out, apiErrs, retries, undelivered := h.obs.get(); out != 1 || apiErrs != 1 || retries != 1 || undelivered != 0 {
		t.Errorf("out %d, API errors %d, retries %d, undelivered %d", out, apiErrs, retries, undelivered)
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	h := start(t, options{})
	h.tg.Fail("sendMessage", 2, telegramtest.Fault{Status: 500, Description: "Internal Server Error"})
	h.tg.Text(alice.ID, alice, "hello")
	h.tg.WaitCalls("sendMessage", 1)
	h.rec.wait(t, 1)
	if n := h.tg.AttemptsOf("sendMessage"); n != 3 {
		t.Errorf("%d attempts; want 3", n)
	}
	w := h.waits()
	if len(w) != 2 {
		t.Fatalf("waited %v; want two backoffs", w)
	}
	for _, d := range w {
		if d < time.Millisecond/2 || d > 8*time.Millisecond {
			t.Errorf("backoff %v outside [Backoff/2, MaxBackoff]", d)
		}
	}
	if _, _, _, retries, undelivered := h.obs.get(); retries != 2 || undelivered != 0 {
		t.Errorf("retries %d, undelivered %d", retries, undelivered)
	}
}

func TestNetworkErrorAndSlowAnswerRetried(t *testing.T) {
	h := start(t, options{config: func(c *Config) { c.RequestTimeout = 200 * time.Millisecond }})
	h.tg.Fail("sendMessage", 1, telegramtest.Fault{Hangup: true})
	h.tg.Fail("sendMessage", 1, telegramtest.Fault{Delay: 2 * time.Second})
	h.tg.Text(alice.ID, alice, "hello")
	h.tg.WaitCalls("sendMessage", 1)
	h.rec.wait(t, 1)
	if n := h.tg.AttemptsOf("sendMessage"); n != 3 {
		t.Errorf("%d attempts; want 3", n)
	}
	if n := len(h.tg.CallsTo("sendMessage")); n != 1 {
		t.Errorf("%d messages sent; want 1", n)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "<token>") {
		t.Errorf("the network error was not logged with the token redacted:\n%s", logs)
	}
}

func TestUndeliverableReplyLoggedAndCounted(t *testing.T) {
	h := start(t, options{})
	h.tg.Fail("sendMessage", DefaultMaxAttempts, telegramtest.Fault{Status: 502, Description: "Bad Gateway"})
	h.tg.Text(alice.ID, alice, "hello")
	h.rec.wait(t, 1)
	if n := h.tg.AttemptsOf("sendMessage"); n != DefaultMaxAttempts {
		t.Errorf("%d attempts; want %d", n, DefaultMaxAttempts)
	}
	if _, out, _, retries, undelivered := h.obs.get(); out != 0 || retries != DefaultMaxAttempts-1 || undelivered != 1 {
		t.Errorf("out %d, retries %d, undelivered %d", out, retries, undelivered)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "reply not delivered") || strings.Contains(logs, "You said") {
		t.Errorf("logs:\n%s", logs)
	}
	// The next reply goes through.
	h.tg.Text(alice.ID, alice, "again")
	h.tg.WaitCalls("sendMessage", 1)
}

func TestCallbackAnsweredOnceOnErrors(t *testing.T) {
	h := start(t, options{})
	h.tg.Text(alice.ID, alice, "hello")
	h.rec.wait(t, 1)
	msg := h.tg.LastSent()
	h.tg.Fail("sendMessage", DefaultMaxAttempts, telegramtest.Fault{Status: 500, Description: "Internal Server Error"})
	h.tg.Fail("answerCallbackQuery", 1, telegramtest.Fault{Status: 502, Description: "Bad Gateway"})
	_, q := h.tg.Press(alice, msg, "1.o.yes")
	h.rec.wait(t, 2)
	answers := h.tg.WaitCalls("answerCallbackQuery", 1)
	time.Sleep(20 * time.Millisecond)
	if answers = h.tg.CallsTo("answerCallbackQuery"); len(answers) != 1 || answers[0].Get("callback_query_id") != q {
		t.Errorf("answers: %v", answers)
	}
	if _, _, _, _, undelivered := h.obs.get(); undelivered != 1 {
		t.Errorf("%d undelivered", undelivered)
	}
}

func TestBlockedUserEndsConversation(t *testing.T) {
	h := start(t, options{})
	h.tg.Fail("sendMessage", 1, telegramtest.Fault{Status: 403, Description: "Forbidden: bot was blocked by the user"})
	h.tg.Text(alice.ID, alice, "hello")
	msgs := h.rec.wait(t, 1)
	if n := h.tg.AttemptsOf("sendMessage"); n != 1 {
		t.Errorf("%d attempts; a 403 must not be retried", n)
	}
	err := h.a.Send(context.Background(), msgs[0].Address, []flows.Reply{{Text: "anyone there?"}})
	if !errors.Is(err, ErrBlocked) {
		t.Errorf("Send to a blocked chat: %v", err)
	}
	if n := h.tg.AttemptsOf("sendMessage"); n != 1 {
		t.Errorf("a blocked chat was sent to")
	}
	if _, _, _, _, undelivered := h.obs.get(); undelivered != 2 {
		t.Errorf("%d undelivered; want 2", undelivered)
	}
	// Writing again unblocks.
	h.tg.Text(alice.ID, alice, "I'm back")
	h.tg.WaitCalls("sendMessage", 1)

	// my_chat_member "kicked" in a private chat blocks too.
	h.tg.Push("my_chat_member", map[string]any{
		"chat": telegramtest.ChatJSON(bob.ID), "from": bob.JSON(), "date": time.Now().Unix(),
		"old_chat_member": map[string]any{"user": h.tg.Me.JSON(), "status": "member"},
		"new_chat_member": map[string]any{"user": h.tg.Me.JSON(), "status": "kicked"},
	})
	eventually(t, "bob's chat blocked", func() bool { return h.a.isBlocked(bob.ID) })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDuplicateUpdateYieldsOneReply(t *testing.T) {
	h := start(t, options{})
	id := h.tg.Text(alice.ID, alice, "hello")
	h.rec.wait(t, 1)
	h.tg.WaitCalls("sendMessage", 1)
	h.tg.Again(id) // delivered again in a later batch
	h.tg.Text(alice.ID, alice, "second")
	h.rec.wait(t, 2)
	time.Sleep(20 * time.Millisecond) // let a wrongly handled repeat show up
	msgs := h.rec.wait(t, 2)
	if len(msgs) != 2 || msgs[1].Text != "second" {
		t.Errorf("%d turns: %+v", len(msgs), msgs)
	}
	if n := len(h.tg.CallsTo("sendMessage")); n != 2 {
		t.Errorf("%d replies; want 2", n)
	}
}

func TestWebhook(t *testing.T) {
	const secret = "right_secret-123"
	h := start(t, options{config: func(c *Config) {
		c.Webhook = &WebhookConfig{PublicURL: "https://bot.example.org/tg/hook", Listen: "127.0.0.1:0", Secret: secret}
	}})
	hooks := h.tg.CallsTo("setWebhook")
	if len(hooks) != 1 || hooks[0].Get("url") != "https://bot.example.org/tg/hook" || hooks[0].Get("secret_token") != secret ||
		!strings.Contains(hooks[0].Get("allowed_updates"), "callback_query") {
		t.Fatalf("setWebhook: %v", hooks)
	}
	if n := h.tg.AttemptsOf("getUpdates"); n != 0 {
		t.Errorf("%d getUpdates in webhook mode", n)
	}
	h.a.mu.Lock()
	hook := "http://" + h.a.listen + "/tg/hook"
	h.a.mu.Unlock()
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport}
	post := func(method, secret string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest(method, hook, bytes.NewReader(body))
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := h.tg.Raw(h.tg.Text(alice.ID, alice, "hello"))
	if code := post("POST", "wrong", body); code != http.StatusForbidden {
		t.Errorf("wrong secret: %d", code)
	}
	if code := post("POST", "", body); code != http.StatusForbidden {
		t.Errorf("no secret: %d", code)
	}
	if code := post("GET", secret, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", code)
	}
	if n := len(h.tg.CallsTo("sendMessage")); n != 0 {
		t.Fatalf("a rejected request was handled")
	}
	if code := post("POST", secret, body); code != http.StatusOK {
		t.Fatalf("right secret: %d", code)
	}
	if n := len(h.tg.CallsTo("sendMessage")); n != 1 {
		t.Fatalf("%d replies after the update was accepted", n)
	}
	if code := post("POST", secret, body); code != http.StatusOK { // Telegram retries
		t.Errorf("retry: %d", code)
	}
	press, _ := h.tg.Press(alice, h.tg.LastSent(), "1.o.yes")
	post("POST", secret, h.tg.Raw(press))
	post("POST", secret, h.tg.Raw(press))
	if n := len(h.tg.CallsTo("sendMessage")); n != 2 {
		t.Errorf("%d replies; want one per distinct update", n)
	}
	if n := len(h.tg.CallsTo("answerCallbackQuery")); n != 1 {
		t.Errorf("callback query answered %d times", n)
	}
	if code := post("POST", secret, body); code != http.StatusOK {
		t.Errorf("retry: %d", code)
	}
	hook = strings.TrimSuffix(hook, "/hook") + "/other"
	if code := post("POST", secret, body); code != http.StatusNotFound {
		t.Errorf("another path: %d", code)
	}
	hook = strings.TrimSuffix(hook, "/other") + "/hook"
	if code := post("POST", secret, []byte("{not json")); code != http.StatusBadRequest {
		t.Errorf("bad body: %d", code)
	}
}

func TestShutdownWhileLongPollOpen(t *testing.T) {
	h := start(t, options{config: func(c *Config) { c.PollTimeout = 50 * time.Second }})
	h.tg.WaitFor("an open long poll", func() bool { return h.tg.Polling() == 1 })
	if !h.a.Ready() {
		t.Error("not ready while polling")
	}
	began := time.Now()
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("Run took %v to return", d)
	}
	h.tg.WaitFor("the poll to be abandoned", func() bool { return h.tg.Cancelled() == 1 && h.tg.Polling() == 0 })
	if h.a.Ready() {
		t.Error("still ready after Run returned")
	}
}

func TestShutdownLetsTurnInProgressFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := start(t, options{script: func(m bot.Message, n int) bot.Turn {
		close(started)
		<-release
		return echo(m, n)
	}})
	h.tg.Text(alice.ID, alice, "hello")
	<-started
	time.AfterFunc(30*time.Millisecond, func() { close(release) })
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(h.tg.CallsTo("sendMessage")); n != 1 {
		t.Errorf("Run returned before the turn in progress delivered its reply (%d sent)", n)
	}
}

func TestLongReplySplitOnLines(t *testing.T) {
	line := strings.Repeat("<b>&'x ", 100) // 700 characters
	var lines []string
	for range 13 {
		lines = append(lines, line)
	}
	text := strings.Join(lines, "\n") // 9 112 characters
	h := start(t, options{script: func(m bot.Message, n int) bot.Turn {
		return bot.Turn{Replies: []flows.Reply{{Text: text, Buttons: []flows.Button{{ID: "1.o.ok", Label: "OK"}}}}}
	}})
	h.tg.Text(group, alice, "@dmdoctor_bot tell me everything")
	h.rec.wait(t, 1)
	sent := h.tg.CallsTo("sendMessage")
	if len(sent) != 3 {
		t.Fatalf("%d messages; want 3", len(sent))
	}
	var got []string
	for i, p := range sent {
		if strings.Contains(p.Get("text"), "<b>") {
			t.Errorf("part %d not escaped", i)
		}
		got = append(got, telegramtest.HTMLText(p.Get("text")))
		if (p.Get("reply_markup") != "") != (i == 2) {
			t.Errorf("part %d: reply_markup %q", i, p.Get("reply_markup"))
		}
		if (p.Get("reply_to_message_id") != "") != (i == 0) {
			t.Errorf("part %d: reply_to_message_id %q", i, p.Get("reply_to_message_id"))
		}
	}
	if strings.Join(got, "\n") != text {
		t.Error("the parts do not join back into the text")
	}
	checkSent(t, h)
}

func TestPrivateChatOffered(t *testing.T) {
	var mu sync.Mutex
	perUser := map[string]int{}
	h := start(t, options{script: func(m bot.Message, n int) bot.Turn {
		mu.Lock()
		perUser[m.UserID]++
		t := bot.Turn{Turns: perUser[m.UserID], Replies: []flows.Reply{{Text: "ok"}}}
		mu.Unlock()
		if m.Text == "human" {
			t.Handoff = &bot.Handoff{}
		}
		return t
	}})
	for i := range 7 {
		h.tg.Text(group, alice, "@dmdoctor_bot message "+strconv.Itoa(i))
	}
	h.rec.wait(t, 7)
	h.tg.Text(alice.ID, alice, "in private now")
	h.rec.wait(t, 8)
	links := 0
	for _, p := range h.tg.CallsTo("sendMessage") {
		if strings.Contains(p.Get("text"), `href="https://t.me/dmdoctor_bot?start=continue"`) {
			links++
			if p.Get("chat_id") != strconv.FormatInt(group, 10) {
				t.Errorf("offer sent to %s", p.Get("chat_id"))
			}
		}
	}
	if links != 1 {
		t.Errorf("%d private-chat offers to alice; want 1 (after turn 6)", links)
	}
	h.tg.Text(group, bob, "@dmdoctor_bot human")
	h.rec.wait(t, 9)
	h.tg.WaitFor("an offer to bob", func() bool {
		n := 0
		for _, c := range h.tg.Calls() {
			if c.Method == "sendMessage" && strings.Contains(c.Params.Get("text"), "start=continue") {
				n++
			}
		}
		return n == 2
	})
}

func TestForumTopicReplies(t *testing.T) {
	h := start(t, options{})
	m := h.tg.Message(group, alice, "@dmdoctor_bot help")
	m["message_thread_id"], m["is_topic_message"] = 7, true
	h.tg.Push("message", m)
	h.rec.wait(t, 1)
	sent := h.tg.WaitCalls("sendMessage", 1)
	if sent[0].Get("message_thread_id") != "7" {
		t.Errorf("reply outside the topic: %v", sent[0])
	}
	if typing := h.tg.CallsTo("sendChatAction"); len(typing) != 1 || typing[0].Get("message_thread_id") != "7" {
		t.Errorf("typing: %v", typing)
	}
}

func TestGroupMigratedToSupergroup(t *testing.T) {
	h := start(t, options{})
	const super = -1009999
	h.tg.Fail("sendMessage", 1, telegramtest.Fault{Status: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateTo: super})
	h.tg.Text(-42, alice, "@dmdoctor_bot hi")
	h.rec.wait(t, 1)
	sent := h.tg.WaitCalls("sendMessage", 1)
	if sent[0].Get("chat_id") != strconv.Itoa(super) {
		t.Errorf("sent to %s; want the supergroup", sent[0].Get("chat_id"))
	}
}

func TestRunWithRejectedToken(t *testing.T) {
	const wrong = "999:WRONG-token_value"
	h := start(t, options{noRun: true, config: func(c *Config) { c.Token = wrong }})
	err := h.a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("Run: %v", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(h.logs.String(), wrong) {
		t.Errorf("the token leaked: %v\n%s", err, h.logs.String())
	}
	if err := h.a.Run(context.Background()); err == nil {
		t.Error("Run ran twice")
	}
}

func TestRunStopsOnNetworkFailureWithoutToken(t *testing.T) {
	h := start(t, options{noRun: true, config: func(c *Config) { c.MaxAttempts = 2 }})
	h.tg.Close() // nobody listens: every call is a network error
	err := h.a.Run(context.Background())
	if err == nil || strings.Contains(err.Error(), fakeToken) || !strings.Contains(err.Error(), "<token>") {
		t.Fatalf("Run: %v", err)
	}
}
