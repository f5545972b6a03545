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
	"sync"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/safetext"
)

// Channel is the channel name of terminal conversations.
const Channel = "console"

// Handler runs turns and moderators' actions; *bot.Engine satisfies it.
type Handler interface {
	Handle(ctx context.Context, m bot.Message) (bot.Turn, error)
	Moderate(ctx context.Context, a bot.ModAction) (bot.ModReply, error)
}

// Moderator is the moderator ID of the terminal in --mod mode.
const Moderator = "console:mod"

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
	// Mod makes the terminal the moderators' place too: tickets are
	// printed, and lines starting with "/mod " are moderator commands.
	Mod bool

	mu      sync.Mutex
	inTurn  bool
	pending []flows.Reply  // replies delivered during the current turn
	last    []flows.Button // the buttons shown last, for typed numbers
	modSeq  int            // numbers moderator commands, for de-duplication
	// registered is set once the chat is the console channel's Sender.
	registered bool
}

var (
	_ bot.Sender   = (*Chat)(nil)
	_ bot.ModPlace = (*Chat)(nil)
)

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
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "/mod"); ok && c.Mod {
				if err := c.moderate(ctx, rest); err != nil {
					return err
				}
				continue
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
		case flows.CmdStart, flows.CmdHelp, flows.CmdTroubleshoot, flows.CmdHuman, flows.CmdCancel, flows.CmdForget:
			return bot.Message{Command: name, Text: rest}
		}
	}
	return bot.Message{Text: line}
}

func (c *Chat) turn(ctx context.Context, m bot.Message) error {
	m.Channel = Channel
	m.UserID = c.User
	m.Address = bot.Address(c.User)
	c.mu.Lock()
	c.inTurn, c.pending = true, nil
	c.mu.Unlock()
	t, err := c.Engine.Handle(ctx, m)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inTurn = false
	replies := c.pending
	if !c.registered {
		replies = t.Replies // no Sender registered: the turn carries them
	}
	if err != nil {
		return err
	}
	return c.print(t, replies)
}

// print writes replies, with the turn's reading of the message in JSON
// mode. The caller holds c.mu.
func (c *Chat) print(t bot.Turn, replies []flows.Reply) error {
	for i, r := range replies {
		if len(r.Buttons) > 0 {
			c.last = r.Buttons
		}
		if c.JSON {
			jr := JSONReply{Text: r.Text, Intent: t.Intent, Confidence: t.Confidence, Cause: t.Cause,
				Buttons: r.Buttons, State: t.Phase}
			if jr.Buttons == nil {
				jr.Buttons = []flows.Button{}
			}
			if i == len(replies)-1 {
				jr.Handoff = t.Handoff
			}
			if err := json.NewEncoder(c.Out).Encode(jr); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(c.Out, safetext.Terminal(r.Text))
		for j, b := range r.Buttons {
			fmt.Fprintf(c.Out, "  %d) %s\n", j+1, safetext.Terminal(b.Label))
		}
	}
	if t.Handoff != nil && !c.JSON && !c.Mod {
		fmt.Fprintln(c.Out, safetext.Terminal(FormatHandoff(*t.Handoff)))
	}
	return nil
}

// Register makes the chat the Sender of the console channel (so replies
// a moderator or a timer starts reach the terminal) and, with Mod, a
// moderators' place.
func (c *Chat) Register(e interface {
	Register(string, bot.Sender)
	AddModPlace(bot.ModPlace)
}) {
	c.mu.Lock()
	c.registered = true
	c.mu.Unlock()
	e.Register(Channel, c)
	if c.Mod {
		e.AddModPlace(c)
	}
}

// Send implements bot.Sender: replies of the current turn are printed
// with it, others at once.
func (c *Chat) Send(ctx context.Context, to bot.Address, replies []flows.Reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inTurn {
		c.pending = append(c.pending, replies...)
		return nil
	}
	return c.print(bot.Turn{}, replies)
}

// Name implements bot.ModPlace.
func (c *Chat) Name() string { return Channel }

// Post implements bot.ModPlace: the ticket is printed for the terminal
// moderator.
func (c *Chat) Post(ctx context.Context, t bot.Ticket, v bot.TicketView) (string, error) {
	c.modPrint("new ticket", v)
	return strconv.FormatInt(t.ID, 10), nil
}

// Update implements bot.ModPlace.
func (c *Chat) Update(ctx context.Context, t bot.Ticket, ref string, v bot.TicketView) error {
	c.modPrint("ticket update", v)
	return nil
}

// Notify implements bot.ModPlace.
func (c *Chat) Notify(ctx context.Context, t bot.Ticket, ref, text string) error {
	c.modPrint("", bot.TicketView{Text: text})
	return nil
}

func (c *Chat) modPrint(title string, v bot.TicketView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.JSON {
		json.NewEncoder(c.Out).Encode(map[string]any{"moderators": v.Text, "buttons": v.Buttons, "event": title})
		return
	}
	var b strings.Builder
	if title != "" {
		b.WriteString("[" + title + "] ")
	}
	b.WriteString(v.Text)
	for _, btn := range v.Buttons {
		if op, id, ok := bot.ParseModButton(btn.ID); ok {
			fmt.Fprintf(&b, "\n  (/mod %s %d) %s", op, id, btn.Label)
		}
	}
	fmt.Fprintln(c.Out, indentMod(safetext.Terminal(b.String())))
}

func indentMod(s string) string { return "  [mods] " + strings.ReplaceAll(s, "\n", "\n  [mods] ") }

// moderate runs a "/mod ..." line as the terminal moderator.
func (c *Chat) moderate(ctx context.Context, line string) error {
	a, ok := bot.ParseModCommand(line)
	if !ok {
		a = bot.ModAction{Op: bot.ModHelp}
	}
	c.mu.Lock()
	c.modSeq++
	a.MsgID = strconv.Itoa(c.modSeq)
	c.mu.Unlock()
	a.Place, a.Moderator, a.Name, a.IsModerator = Channel, Moderator, "Terminal moderator", true
	r, err := c.Engine.Moderate(ctx, a)
	if err != nil {
		return err
	}
	if r.Text != "" {
		c.modPrint("", bot.TicketView{Text: r.Text})
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
