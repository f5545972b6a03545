package discord

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/safetext"
)

// Discord's limits on a message.
const (
	maxContent  = 2000 // characters of content
	maxPerRow   = 5    // buttons in an action row
	maxRows     = 5    // action rows in a message
	maxLabel    = 80   // characters of a button label
	maxCustomID = 100  // bytes of a button's custom_id
	maxName     = 100  // characters of a thread name
)

// message is one Discord message to send: content and buttons.
type message struct {
	content    string
	components []discordgo.MessageComponent
}

// render turns a reply into Discord messages: the text made safe
// (escapeText), split into chunks of at most 2000 characters on line
// boundaries, the buttons in action rows on the last chunk. owner is the
// user the buttons belong to ("" for anyone). dropped counts buttons that
// could not be drawn (over 25, or an ID too long or repeated).
func render(r flows.Reply, owner string) (msgs []message, dropped int) {
	chunks := splitText(escapeText(r.Text), maxContent)
	rows, dropped := buttonRows(r.Buttons, owner)
	if len(chunks) == 0 && len(rows) == 0 {
		return nil, dropped
	}
	if len(chunks) == 0 {
		chunks = []string{""}
	}
	msgs = make([]message, len(chunks))
	for i, c := range chunks {
		msgs[i].content = c
	}
	msgs[len(msgs)-1].components = rows
	return msgs, dropped
}

// noMentions is set on every message: nothing in it pings anyone, whatever
// the text says (@everyone, @here, <@id>, <@&role>), and replies do not
// ping the author of the message they answer.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// buttonRows draws quick replies as buttons, five to a row, five rows at
// most.
func buttonRows(bs []flows.Button, owner string) (rows []discordgo.MessageComponent, dropped int) {
	seen := map[string]bool{}
	var buttons []discordgo.MessageComponent
	for _, b := range bs {
		id := customID(owner, b.ID)
		if b.ID == "" || len(id) > maxCustomID || seen[id] || len(buttons) == maxRows*maxPerRow {
			dropped++
			continue
		}
		seen[id] = true
		label := clipUTF16(strings.Join(strings.Fields(sanitize(b.Label)), " "), maxLabel)
		if label == "" {
			label = clipUTF16(b.ID, maxLabel)
		}
		buttons = append(buttons, discordgo.Button{Label: label, Style: buttonStyle(owner, b.ID), CustomID: id})
	}
	for i := 0; i < len(buttons); i += maxPerRow {
		rows = append(rows, discordgo.ActionsRow{Components: buttons[i:min(i+maxPerRow, len(buttons))]})
	}
	return rows, dropped
}

// buttonStyle colours a button: a ticket's Resolve green and Return grey
// for moderators, the rest blurple.
func buttonStyle(owner, id string) discordgo.ButtonStyle {
	if op, _, ok := bot.ParseModButton(id); ok && owner == "" {
		switch op {
		case bot.ModResolve:
			return discordgo.SuccessButton
		case bot.ModReturn:
			return discordgo.SecondaryButton
		}
	}
	return discordgo.PrimaryButton
}

// customID is a button's custom_id: the owner's user ID, a colon and the
// flows button ID (at most 20 + 1 + 64 bytes, within Discord's 100), so a
// press by anyone else can be told apart.
func customID(owner, id string) string {
	if owner == "" {
		return id
	}
	return owner + ":" + id
}

// parseCustomID splits a custom_id into owner and button ID.
func parseCustomID(s string) (owner, id string) {
	if o, rest, ok := strings.Cut(s, ":"); ok && isSnowflake(o) {
		return o, rest
	}
	return "", s
}

// sanitize and escapeText are safetext's Strip and Markdown: every text
// the channel shows goes through them.
func sanitize(s string) string { return safetext.Strip(s) }

func escapeText(s string) string { return safetext.Markdown(s) }

// utf16Len is the length of s as Discord counts it (UTF-16 code units,
// which is never less than the number of characters).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// clipUTF16 cuts s to at most n UTF-16 units, on a character boundary.
func clipUTF16(s string, n int) string {
	used := 0
	for i, r := range s {
		used += utf16.RuneLen(r)
		if used > n {
			return s[:i]
		}
	}
	return s
}

// splitText splits text into chunks of at most max UTF-16 units, between
// lines where it can, else at the last space, else anywhere (never inside
// a character or right after an escaping backslash). Blank chunks are
// dropped.
func splitText(s string, max int) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if utf16Len(s) <= max {
		return []string{s}
	}
	var out []string
	var cur strings.Builder
	curLen := 0
	flush := func() {
		if c := strings.Trim(cur.String(), "\n"); strings.TrimSpace(c) != "" {
			out = append(out, c)
		}
		cur.Reset()
		curLen = 0
	}
	for _, line := range strings.Split(s, "\n") {
		n := utf16Len(line)
		sep := 0
		if cur.Len() > 0 {
			sep = 1
		}
		if curLen+sep+n <= max {
			if sep == 1 {
				cur.WriteByte('\n')
			}
			cur.WriteString(line)
			curLen += sep + n
			continue
		}
		flush()
		for utf16Len(line) > max {
			head := cutLine(line, max)
			cur.WriteString(head)
			flush()
			line = strings.TrimLeft(line[len(head):], " ")
		}
		cur.WriteString(line)
		curLen = utf16Len(line)
	}
	flush()
	return out
}

// cutLine returns the longest head of line, of at most max UTF-16 units,
// that ends at a space (when one is in its second half) or at a character
// boundary not right after an escaping backslash.
func cutLine(line string, max int) string {
	head := clipUTF16(line, max)
	if i := strings.LastIndexByte(head, ' '); i > len(head)/2 {
		return head[:i+1]
	}
	// Don't leave an escape's backslash at the end of a chunk: the escaped
	// character would start the next one unescaped.
	back := len(head) - len(strings.TrimRight(head, `\`))
	if back%2 == 1 && len(head) > 1 {
		head = head[:len(head)-1]
	}
	if head == "" { // cannot happen for max ≥ 2; guard against a loop
		_, size := utf8.DecodeRuneInString(line)
		head = line[:size]
	}
	return head
}
