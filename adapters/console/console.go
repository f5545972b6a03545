// Package console is the terminal channel: one user typing lines, the
// assistant's replies printed with numbered quick replies. It works piped
// too (one user line in, replies out) and can print one JSON object per
// reply for scripts and tests.
package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// Channel is the channel name of terminal conversations.
const Channel = "console"

// Handler runs one turn; *bot.Engine satisfies it.
type Handler interface {
	Handle(ctx context.Context, m bot.Message) (bot.Turn, error)
}

// Chat is a terminal conversation.
type Chat struct {
	Engine Handler
	In     io.Reader
	Out    io.Writer
	// JSON prints one JSON object per reply instead of text.
	JSON bool
	// Prompt is printed before each line is read ("" for none).
	Prompt string
	// User is the user ID of the terminal user.
	User string

	last []flows.Button // the buttons shown last, for typed numbers
}

// JSONReply is the --json output: one object per reply.
type JSONReply struct {
	Text       string         `json:"text"`
	Intent     string         `json:"intent"`
	Confidence float64        `json:"confidence"`
	Cause      string         `json:"cause"`
	Buttons    []flows.Button `json:"buttons"`
	Handoff    *bot.Handoff   `json:"handoff"`
	State      flows.Phase    `json:"state"`
}

// Run reads lines until EOF or ctx ends. It greets first.
func (c *Chat) Run(ctx context.Context) error {
	if c.User == "" {
		c.User = "you"
	}
	if err := c.turn(ctx, bot.Message{Command: flows.CmdStart}); err != nil {
		return err
	}
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(c.In)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	for {
		if c.Prompt != "" {
			fmt.Fprint(c.Out, c.Prompt)
		}
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				select {
				case err := <-errc:
					if err != nil && strings.Contains(err.Error(), "too long") {
						return fmt.Errorf("console: a line longer than 1 MiB: %w", err)
					}
					return err
				default:
					return nil
				}
			}
			if err := c.turn(ctx, c.message(line)); err != nil {
				return err
			}
		}
	}
}

// message turns a typed line into a message: a number picks one of the
// buttons shown last, a line starting with / is a command.
func (c *Chat) message(line string) bot.Message {
	trimmed := strings.TrimSpace(line)
	if n, err := strconv.Atoi(trimmed); err == nil && n >= 1 && n <= len(c.last) {
		return bot.Message{Button: c.last[n-1].ID}
	}
	if cmd, ok := strings.CutPrefix(trimmed, "/"); ok {
		name, rest, _ := strings.Cut(cmd, " ")
		switch name {
		case flows.CmdStart, flows.CmdHelp, flows.CmdTroubleshoot, flows.CmdHuman, flows.CmdCancel:
			return bot.Message{Command: name, Text: rest}
		}
	}
	return bot.Message{Text: line}
}

func (c *Chat) turn(ctx context.Context, m bot.Message) error {
	m.Channel = Channel
	m.UserID = c.User
	m.Address = bot.Address(c.User)
	t, err := c.Engine.Handle(ctx, m)
	if err != nil {
		return err
	}
	c.last = nil
	for i, r := range t.Replies {
		if len(r.Buttons) > 0 {
			c.last = r.Buttons
		}
		if c.JSON {
			jr := JSONReply{Text: r.Text, Intent: t.Intent, Confidence: t.Confidence, Cause: t.Cause,
				Buttons: r.Buttons, State: t.Phase}
			if jr.Buttons == nil {
				jr.Buttons = []flows.Button{}
			}
			if i == len(t.Replies)-1 {
				jr.Handoff = t.Handoff
			}
			if err := json.NewEncoder(c.Out).Encode(jr); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(c.Out, Sanitize(r.Text))
		for j, b := range r.Buttons {
			fmt.Fprintf(c.Out, "  %d) %s\n", j+1, Sanitize(b.Label))
		}
	}
	if t.Handoff != nil && !c.JSON {
		fmt.Fprintln(c.Out, Sanitize(FormatHandoff(*t.Handoff)))
	}
	return nil
}

// FormatHandoff renders a hand-off event for the terminal.
func FormatHandoff(h bot.Handoff) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[hand-off to a moderator] user=%s reason=%s", h.Key, h.Reason)
	if len(h.Detected) > 0 {
		fmt.Fprintf(&b, " causes=%s", strings.Join(h.Detected, ","))
	}
	if len(h.Tried) > 0 {
		fmt.Fprintf(&b, " tried=%s", strings.Join(h.Tried, ","))
	}
	if len(h.RuledOut) > 0 {
		fmt.Fprintf(&b, " ruled_out=%s", strings.Join(h.RuledOut, ","))
	}
	for _, a := range h.Answers {
		fmt.Fprintf(&b, "\n  answer %s: %s", a.Question, a.Text)
	}
	for _, l := range h.Last {
		fmt.Fprintf(&b, "\n  said: %q", l)
	}
	return b.String()
}

// Sanitize makes text safe to print on a terminal: control characters
// (escape sequences among them) other than newline and tab, Unicode bidi
// overrides and invisible format characters are dropped.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
