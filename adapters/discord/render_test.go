package discord

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/flows"
)

func TestEscapeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, nothing to do.", "plain text, nothing to do."},
		{"**bold** _it_ ~~s~~ ||spoiler|| `code`", `\*\*bold\*\* \_it\_ \~\~s\~\~ \|\|spoiler\|\| \` + "`code\\`"},
		{"# heading\n> quote\n- item\n-# small\n1. first\n 2) second", "\\# heading\n\\> quote\n\\- item\n\\-# small\n1\\. first\n 2\\) second"},
		{"[click](https://evil.example)", `\[click\](https://evil.example)`},
		{"see https://support.tiktok.com/en/safety_hc/a_b*c now_", `see https://support.tiktok.com/en/safety_hc/a_b*c now\_`},
		{"hi @everyone and @here and @Everyone", "hi @\u200beveryone and @\u200bhere and @\u200bEveryone"},
		{"<@123456789012345678> <@&123456789012345678> <#123456789012345678> <t:1:R>", `\<@123456789012345678\> \<@&123456789012345678\> \<#123456789012345678\> \<t:1:R\>`},
		{"back\\slash", `back\\slash`},
		{"bidi\u202eevil\u2066 ctl\x1b[31m", `bidievil ctl\[31m`},
		{"emoji 👋🏽 and 👨‍👩‍👧 stay", "emoji 👋🏽 and 👨‍👩‍👧 stay"},
		{"bad utf8 \xff here", "bad utf8 \uFFFD here"},
	}
	for _, tt := range tests {
		if got := escapeText(tt.in); got != tt.want {
			t.Errorf("escapeText(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitText(t *testing.T) {
	line := strings.Repeat("a", 99) // 100 with the newline
	var lines []string
	for range 45 {
		lines = append(lines, line)
	}
	long := strings.Join(lines, "\n") // 4499 characters

	chunks := splitText(long, maxContent)
	if len(chunks) != 3 {
		t.Fatalf("got %d chunks, want 3", len(chunks))
	}
	if got := strings.Join(chunks, "\n"); got != long {
		t.Errorf("chunks do not join back to the text")
	}
	for i, c := range chunks {
		if n := utf16Len(c); n > maxContent {
			t.Errorf("chunk %d: %d characters", i, n)
		}
		if strings.HasPrefix(c, "\n") || strings.HasSuffix(c, "\n") {
			t.Errorf("chunk %d starts or ends with a newline", i)
		}
	}

	// One line too long: cut at a space; no word split.
	words := strings.TrimSpace(strings.Repeat("word ", 1000))
	for _, c := range splitText(words, maxContent) {
		if utf16Len(c) > maxContent || strings.Contains(" "+c+" ", " wor ") {
			t.Errorf("bad chunk of %d characters", utf16Len(c))
		}
	}

	// No spaces: cut anywhere, but never inside a character or after an
	// escaping backslash.
	emoji := strings.Repeat("👋", 1500) // 3000 UTF-16 units
	chunks = splitText(emoji, maxContent)
	if len(chunks) != 2 || strings.Join(chunks, "") != emoji {
		t.Fatalf("emoji text split into %d chunks that don't join back", len(chunks))
	}
	if utf16Len(chunks[0]) != 2000 {
		t.Errorf("first chunk %d UTF-16 units, want 2000", utf16Len(chunks[0]))
	}
	esc := escapeText(strings.Repeat("*", 1500)) // 3000 bytes of \*
	for _, c := range splitText(esc, maxContent) {
		if !strings.HasPrefix(c, `\*`) || strings.HasSuffix(c, `\`) {
			t.Errorf("chunk cut inside an escape: %q…%q", c[:4], c[len(c)-4:])
		}
	}

	if got := splitText(" \n ", maxContent); got != nil {
		t.Errorf("blank text gave %q", got)
	}
	if got := splitText("short", maxContent); len(got) != 1 || got[0] != "short" {
		t.Errorf("short text gave %q", got)
	}
}

func TestRenderButtons(t *testing.T) {
	var bs []flows.Button
	for i := range 27 {
		bs = append(bs, flows.Button{ID: fmt.Sprintf("3.o.opt%d", i), Label: fmt.Sprintf("Option %d", i)})
	}
	bs[1].Label = strings.Repeat("long ", 30)
	bs[2].ID = bs[0].ID                        // repeated
	bs[3].ID = strings.Repeat("x", 90)         // too long with the owner
	bs = append(bs, flows.Button{ID: "human"}) // over 25 anyway
	owner := "123456789012345678"
	msgs, dropped := render(flows.Reply{Text: strings.Repeat("line\n", 500), Buttons: bs}, owner)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if msgs[0].components != nil {
		t.Errorf("buttons on the first chunk")
	}
	rows := msgs[1].components
	if len(rows) != maxRows {
		t.Fatalf("got %d rows, want %d", len(rows), maxRows)
	}
	n := 0
	for _, r := range rows {
		row := r.(discordgo.ActionsRow)
		if len(row.Components) > maxPerRow {
			t.Errorf("row of %d buttons", len(row.Components))
		}
		for _, c := range row.Components {
			b := c.(discordgo.Button)
			n++
			if len(b.CustomID) > maxCustomID || utf16Len(b.Label) > maxLabel || b.Label == "" {
				t.Errorf("bad button %+v", b)
			}
			if o, id := parseCustomID(b.CustomID); o != owner || !strings.HasPrefix(id, "3.o.opt") {
				t.Errorf("custom_id %q parses to %q, %q", b.CustomID, o, id)
			}
		}
	}
	if n != 25 || dropped != 3 {
		t.Errorf("drew %d buttons and dropped %d, want 25 and 3", n, dropped)
	}

	if msgs, _ := render(flows.Reply{Buttons: []flows.Button{{ID: "faq", Label: "FAQ"}}}, ""); len(msgs) != 1 || msgs[0].content != "" || len(msgs[0].components) != 1 {
		t.Errorf("buttons without text: %+v", msgs)
	}
	if msgs, _ := render(flows.Reply{Text: "  "}, ""); msgs != nil {
		t.Errorf("blank reply gave %+v", msgs)
	}
}

func TestParseCustomID(t *testing.T) {
	tests := []struct{ in, owner, id string }{
		{"123456789012345678:4.o.yes", "123456789012345678", "4.o.yes"},
		{"human", "", "human"},
		{"faq.privacy", "", "faq.privacy"},
		{"abc:def", "", "abc:def"},
		{"123456789012345678:", "123456789012345678", ""},
	}
	for _, tt := range tests {
		if o, id := parseCustomID(tt.in); o != tt.owner || id != tt.id {
			t.Errorf("parseCustomID(%q) = %q, %q; want %q, %q", tt.in, o, id, tt.owner, tt.id)
		}
	}
}

func TestNoMentionsJSON(t *testing.T) {
	b, err := json.Marshal(noMentions())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"parse":[],"replied_user":false}` {
		t.Errorf("allowed_mentions = %s", got)
	}
}
