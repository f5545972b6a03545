package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

func TestSplitText(t *testing.T) {
	long := strings.Repeat("é", 10)
	tests := []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"fits", "a\nb", 10, []string{"a\nb"}},
		{"on lines", "aaaa\nbbbb\ncccc", 10, []string{"aaaa\nbbbb", "cccc"}},
		{"long line cut on runes", long, 4, []string{"éééé", "éééé", "éé"}},
		{"long line between short ones", "ab\n" + long + "\ncd", 6, []string{"ab", "éééééé", "éééé", "cd"}},
		{"blank parts dropped", "aaaa\n\n\n\nbbbb", 5, []string{"aaaa", "bbbb"}},
		{"astral runes count twice", "😀😀😀", 4, []string{"😀😀", "😀"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitText(tt.in, tt.limit)
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitText(%q, %d) = %q; want %q", tt.in, tt.limit, got, tt.want)
			}
			for _, p := range got {
				if utf16Len(p) > tt.limit {
					t.Errorf("part %q over the limit", p)
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	a := testAdapter(t)
	msgs := a.render(flows.Reply{Text: `Tap "Yes" if <Wi-Fi> & data fail`, Buttons: []flows.Button{
		{ID: "1.o.yes", Label: "Yes"},
		{ID: strings.Repeat("x", 65), Label: "Too long an ID"},
		{ID: "1.o.no", Label: "No <never>"},
	}})
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if want := "Tap &#34;Yes&#34; if &lt;Wi-Fi&gt; &amp; data fail"; msgs[0].html != want {
		t.Errorf("html %q; want %q", msgs[0].html, want)
	}
	kb := msgs[0].markup.InlineKeyboard
	if len(kb) != 1 || len(kb[0]) != 2 || *kb[0][1].CallbackData != "1.o.no" || kb[0][1].Text != "No <never>" {
		t.Errorf("keyboard %+v", kb)
	}
	if got := a.render(flows.Reply{Text: " "}); got != nil {
		t.Errorf("blank reply rendered %v", got)
	}
	if got := a.render(flows.Reply{Buttons: []flows.Button{{ID: "human", Label: "Talk to a person"}}}); len(got) != 1 || got[0].html != DefaultTexts.EmptyReply {
		t.Errorf("buttons without text rendered %+v", got)
	}
	long := a.render(flows.Reply{Text: "x", Buttons: []flows.Button{{ID: "a", Label: "A rather long label"}, {ID: "b", Label: "B"}}})
	if rows := long[0].markup.InlineKeyboard; len(rows) != 2 {
		t.Errorf("long labels: %d rows; want one button a row", len(rows))
	}
}

func TestAddress(t *testing.T) {
	for _, a := range []address{
		{Chat: 42, User: 42},
		{Chat: -1001234567890, User: 7, Reply: 99, Thread: 5, Group: true},
	} {
		got, err := parseAddress(a.encode())
		if err != nil || got != a {
			t.Errorf("round trip of %+v: %+v, %v", a, got, err)
		}
	}
	for _, bad := range []string{"", "42", "console-user", "1/2/3/4/x", "a/2/3/4/p", "0/1/0/0/p"} {
		if _, err := parseAddress(bot.Address(bad)); err == nil {
			t.Errorf("parseAddress(%q) accepted", bad)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in, name, rest, target string
		ok                     bool
	}{
		{"/start", "start", "", "", true},
		{"/start continue", "start", "continue", "", true},
		{"/troubleshoot@dmdoctor_bot it keeps\nloading", "troubleshoot", "it keeps\nloading", "dmdoctor_bot", true},
		{"/HELP", "help", "", "", true},
		{"/", "", "", "", false},
		{"/ hi", "", "", "", false},
		{"/naïve", "", "", "", false},
		{"hello /start", "", "", "", false},
	}
	for _, tt := range tests {
		name, rest, target, ok := parseCommand(tt.in)
		if name != tt.name || rest != tt.rest || target != tt.target || ok != tt.ok {
			t.Errorf("parseCommand(%q) = %q, %q, %q, %v", tt.in, name, rest, target, ok)
		}
	}
}

func TestMentions(t *testing.T) {
	a := testAdapter(t)
	a.self = tgbotapi.User{ID: 999, UserName: "dmdoctor_bot"}
	tests := []struct {
		text     string
		entities []tgbotapi.MessageEntity
		want     bool
		stripped string
	}{
		{"@dmdoctor_bot help", nil, true, "help"},
		{"hey @DMDOCTOR_BOT!", nil, true, "hey !"},
		{"@dmdoctor_bot2 hi", nil, false, "@dmdoctor_bot2 hi"},
		{"mail me@dmdoctor_bot.example", nil, true, "mail me.example"},
		{"😀 @dmdoctor_bot", []tgbotapi.MessageEntity{{Type: "mention", Offset: 3, Length: 13}}, true, "😀"},
		{"Doctor, help", []tgbotapi.MessageEntity{{Type: "text_mention", Offset: 0, Length: 6, User: &tgbotapi.User{ID: 999}}}, true, "Doctor, help"},
		{"hello all", nil, false, "hello all"},
	}
	for _, tt := range tests {
		if got := a.mentions(tt.text, tt.entities); got != tt.want {
			t.Errorf("mentions(%q) = %v", tt.text, got)
		}
		if got := a.stripMention(tt.text); got != tt.stripped {
			t.Errorf("stripMention(%q) = %q; want %q", tt.text, got, tt.stripped)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if _, on, err := ConfigFromEnv(env()); on || err != nil {
		t.Errorf("no token: enabled %v, %v", on, err)
	}
	cfg, on, err := ConfigFromEnv(env(EnvToken, "1:abc", EnvAPIURL, "http://localhost:8081"))
	if !on || err != nil || cfg.Token != "1:abc" || cfg.APIURL != "http://localhost:8081" || cfg.Webhook != nil {
		t.Errorf("polling: %+v, %v, %v", cfg, on, err)
	}
	cfg, on, err = ConfigFromEnv(env(EnvToken, "1:abc", EnvWebhookURL, "https://x.example/hook"))
	if !on || err != nil || cfg.Webhook == nil || !validSecret(cfg.Webhook.Secret) || len(cfg.Webhook.Secret) < 20 {
		t.Errorf("webhook with a generated secret: %+v, %v", cfg.Webhook, err)
	}
	cfg, _, err = ConfigFromEnv(env(EnvToken, "1:abc", EnvWebhookURL, "https://x.example/hook", EnvWebhookListen, ":9000", EnvWebhookSecret, "s_1-x"))
	if err != nil || *cfg.Webhook != (WebhookConfig{PublicURL: "https://x.example/hook", Listen: ":9000", Secret: "s_1-x"}) {
		t.Errorf("webhook: %+v, %v", cfg.Webhook, err)
	}
	for name, getenv := range map[string]func(string) string{
		"webhook without token": env(EnvWebhookURL, "https://x.example/hook"),
		"bad secret":            env(EnvToken, "1:abc", EnvWebhookURL, "https://x.example/hook", EnvWebhookSecret, "no spaces"),
		"secret without URL":    env(EnvToken, "1:abc", EnvWebhookSecret, "abc"),
		"bad API URL":           env(EnvToken, "1:abc", EnvAPIURL, "localhost:8081"),
		"bad webhook URL":       env(EnvToken, "1:abc", EnvWebhookURL, "/hook"),
		"token with a slash":    env(EnvToken, "1:a/b"),
	} {
		if _, _, err := ConfigFromEnv(getenv); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "1:a/b") {
			t.Errorf("%s: the token is in the error: %v", name, err)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.telegram.org":     "https://api.telegram.org/bot%s/%s",
		"http://localhost:8081/":       "http://localhost:8081/bot%s/%s",
		"http://proxy.example/tg%20x/": "http://proxy.example/tg%%20x/bot%s/%s",
	} {
		if got := (Config{APIURL: in}).endpoint(); got != want {
			t.Errorf("endpoint(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestScrubToken(t *testing.T) {
	const token = "123:SECRET-tok_en"
	ue := &url.Error{Op: "Post", URL: "https://api.telegram.org/bot" + token + "/getMe", Err: context.DeadlineExceeded}
	for _, err := range []error{
		ue,
		fmt.Errorf("wrapped: %w", ue),
		errors.New("odd error quoting " + url.PathEscape(token) + " and " + token),
	} {
		got := scrubToken(err, token)
		if strings.Contains(got.Error(), token) || !strings.Contains(got.Error(), "<token>") {
			t.Errorf("scrubbed %q", got)
		}
		if errors.Is(err, context.DeadlineExceeded) != errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("%v: context error lost", got)
		}
	}
	plain := errors.New("Bad Request: chat not found")
	if scrubToken(plain, token) != plain {
		t.Error("an error without the token was changed")
	}
}

func TestRetryPolicy(t *testing.T) {
	a := testAdapter(t)
	a.cfg.Backoff, a.cfg.MaxBackoff, a.cfg.MaxRetryAfter = 100*time.Millisecond, time.Second, 30*time.Second
	tests := []struct {
		name  string
		err   error
		retry bool
		wait  time.Duration // exact, or 0 for a backoff
	}{
		{"429", &tgbotapi.Error{Code: 429, ResponseParameters: tgbotapi.ResponseParameters{RetryAfter: 7}}, true, 7 * time.Second},
		{"429 too long", &tgbotapi.Error{Code: 429, ResponseParameters: tgbotapi.ResponseParameters{RetryAfter: 300}}, false, 300 * time.Second},
		{"500", &tgbotapi.Error{Code: 500}, true, 0},
		{"network", &url.Error{Op: "Post", URL: "x", Err: errors.New("connection refused")}, true, 0},
		{"400", &tgbotapi.Error{Code: 400, Message: "Bad Request"}, false, 0},
		{"403", &tgbotapi.Error{Code: 403}, false, 0},
	}
	for _, tt := range tests {
		wait, retry := a.retryPolicy(tt.err, 1)
		if retry != tt.retry || (tt.wait != 0 && wait != tt.wait) {
			t.Errorf("%s: wait %v, retry %v", tt.name, wait, retry)
		}
	}
	for attempt := 1; attempt <= 10; attempt++ {
		d := a.backoff(attempt)
		want := min(100*time.Millisecond<<(attempt-1), time.Second)
		if d < want/2 || d > want {
			t.Errorf("backoff(%d) = %v; want in [%v, %v]", attempt, d, want/2, want)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{}, &scripted{}); err == nil {
		t.Error("New without a token")
	}
	if _, err := New(Config{Token: "1:a"}, nil); err == nil {
		t.Error("New without a handler")
	}
}

func testAdapter(t *testing.T) *Adapter {
	t.Helper()
	a, err := New(Config{Token: "1:abc"}, &scripted{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
