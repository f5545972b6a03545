package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func runCmd(t *testing.T, e env, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, e.get, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestChatPiped(t *testing.T) {
	out, _, err := runCmd(t, env{}, "tiktok wont let me dm anyone\n4\n", "chat")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Hi!", "a few quick questions", "  1) Says I'm banned or restricted"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestNoSubcommandOpensTheTerminalChat(t *testing.T) {
	out, _, err := runCmd(t, env{}, "hi\n")
	if err != nil || !strings.Contains(out, "I help when TikTok won't let you send messages") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

func TestChatJSON(t *testing.T) {
	out, _, err := runCmd(t, env{}, "i got banned for 24 hours and cant message\n", "chat", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last map[string]any
	for _, l := range lines {
		last = nil
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		for _, k := range []string{"text", "intent", "confidence", "cause", "buttons", "handoff", "state"} {
			if _, ok := last[k]; !ok {
				t.Fatalf("reply lacks %q: %s", k, l)
			}
		}
	}
	if last["intent"] != "temporary_ban" || last["cause"] != "temporary_ban" || last["state"] != "feedback" {
		t.Fatalf("last reply %v", last)
	}
}

func TestChatMod(t *testing.T) {
	in := "i want to talk to a human\n/mod tickets\n/mod claim 1\n/mod reply 1 hello from the mods\n/mod resolve 1\n5\nthanks a lot\n"
	out, _, err := runCmd(t, env{}, in, "chat", "--mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[mods] [new ticket] Ticket #1", "#1 console:you (asked), pending",
		"Terminal moderator from the moderators is here", "💬 Terminal moderator: hello from the mods",
		"How would you rate the help?", "Anything you'd like to add?", "[mods] ⭐ Ticket #1 was rated 5/5: thanks a lot"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestKBCheck(t *testing.T) {
	out, _, err := runCmd(t, env{}, "", "kb", "check")
	if err != nil || !strings.Contains(out, "ok: 8 causes") {
		t.Fatalf("err %v, output %q", err, out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "triage.yaml"), []byte("confident: 2\n"), 0o644)
	_, _, err = runCmd(t, env{}, "", "kb", "check", "--kb", dir)
	if err == nil || !strings.Contains(err.Error(), "no cause files") || !strings.Contains(err.Error(), "messages.yaml: file is missing") {
		t.Fatalf("broken KB: err %v", err)
	}
}

func TestEvalOnKB(t *testing.T) {
	out, _, err := runCmd(t, env{}, "", "eval", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"accuracy", "in_scope_accuracy", "oos_recall", "per_intent", "confusion"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	acc, _ := rep["accuracy"].(float64)
	if acc < 0.5 {
		t.Fatalf("accuracy %.3f on the KB's own evaluation set", acc)
	}
}

func TestStoriesCommand(t *testing.T) {
	out, _, err := runCmd(t, env{}, "", "test", "../../stories")
	if err != nil || !strings.Contains(out, "0 failed") {
		t.Fatalf("err %v\n%s", err, out)
	}
	dir := t.TempDir()
	bad := "stories:\n  - name: wrong on purpose\n    steps:\n      - user: hi\n        intent: human\n"
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644)
	out, _, err = runCmd(t, env{}, "", "test", dir)
	if err == nil || !strings.Contains(out, "FAIL") || !strings.Contains(out, "want: human") {
		t.Fatalf("a failing story passed: err %v\n%s", err, out)
	}
}

func TestConfigCheck(t *testing.T) {
	const token = "123456:SECRET-TOKEN-abcdef"
	out, _, err := runCmd(t, env{
		"TELEGRAM_BOT_TOKEN":      token,
		"DISCORD_GUILD_ID":        "not-a-snowflake",
		"DISCORD_BOT_TOKEN":       "discord-SECRET",
		"DMDOCTOR_CLAIM_TIMEOUT":  "soon",
		"DMDOCTOR_DATABASE_URL":   "postgres://u:hunter2@127.0.0.1:1/db",
		"DMDOCTOR_HTTP_ADDR":      "nope",
		"DMDOCTOR_RETENTION_DAYS": "0",
	}, "", "config", "check")
	if err == nil {
		t.Fatal("bad configuration passed")
	}
	for _, want := range []string{"DISCORD_GUILD_ID", "DMDOCTOR_CLAIM_TIMEOUT", "DMDOCTOR_HTTP_ADDR", "DMDOCTOR_RETENTION_DAYS", "problem: database"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check does not mention %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{token, "SECRET", "hunter2"} {
		if strings.Contains(out+err.Error(), secret) {
			t.Errorf("config check shows a secret %q:\n%s", secret, out)
		}
	}
}

func TestConfigFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "dmdoctor.env")
	os.WriteFile(f, []byte("# settings\nDMDOCTOR_CLAIM_TIMEOUT=5m\nexport DMDOCTOR_RETENTION_DAYS='7'\n"), 0o644)
	c, err := loadConfig(flagValues{file: f}, env{"DMDOCTOR_RETENTION_DAYS": "9"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClaimTimeout != 5*time.Minute || c.Retention != 9*24*time.Hour {
		t.Fatalf("file or environment not applied: %+v", c)
	}
	os.WriteFile(f, []byte("not a setting\n"), 0o644)
	if _, err := loadConfig(flagValues{file: f}, env{}.get); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("bad file line: %v", err)
	}
}

func TestStatsOnSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	if _, _, err := runCmd(t, env{}, "", "stats", "--db", db); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("stats on a missing database: %v", err)
	}
	if _, _, err := runCmd(t, env{}, "i got banned for a day\nYes, it works now\n", "chat", "--db", db); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, env{}, "", "stats", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"conversations:        1", "resolved 1", "deflection:           100.0%", "temporary_ban"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, _, err := runCmd(t, env{}, "", "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
	if _, _, err := runCmd(t, env{}, "", "chat", "--nope"); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestPurgeLoopDeletesOldConversations(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	old := bot.Key{Channel: "console", User: "old"}
	fresh := bot.Key{Channel: "console", User: "fresh"}
	for _, k := range []bot.Key{old, fresh} {
		when := time.Now()
		if k == old {
			when = when.Add(-40 * 24 * time.Hour)
		}
		if _, err := s.Turn(ctx, k, "m-"+k.User, func(c *bot.Conversation) (bot.Change, error) {
			c.Created, c.Updated = when, when
			return bot.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- purgeLoop(cctx, s, 30*24*time.Hour, slog.New(slog.DiscardHandler)) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := s.Get(ctx, old); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 40-day-old conversation survived a 30-day retention")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, fresh); err != nil {
		t.Errorf("a fresh conversation was purged: %v", err)
	}
}
