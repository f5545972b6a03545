package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dmdoctor/dmdoctor/flows"
)

// Button IDs of the hand-off, seen by users (leave a message, continue,
// rate) and by moderators (claim, resolve, return on a ticket).
const (
	btnLeave    = "ho.leave"
	btnContinue = "ho.continue"
	ratePrefix  = "rate."
	btnSkip     = "rate.skip"
	modPrefix   = "t."
)

// Moderator operations.
const (
	ModList    = "tickets"
	ModClaim   = "claim"
	ModResolve = "resolve"
	ModReturn  = "return"
	ModNote    = "note"
	ModRelay   = "reply"
	ModHelp    = "help"
)

// ModAction is something a moderator did in a moderators' place.
type ModAction struct {
	Place string // the ModPlace's Name
	// MsgID identifies the moderator's message or button press, so that a
	// redelivered one is relayed once.
	MsgID       string
	Moderator   string // "discord:123": the place and the moderator's ID
	Name        string // the moderator's display name
	IsModerator bool   // decided by the place: role, admin, allow-list
	Op          string // a Mod* constant
	Ticket      int64  // the ticket, or 0 to find it by Ref
	Ref         string // where the action happened (a reply to a ticket message, its thread)
	Text        string // the reply or note
}

// ModReply is what the moderator is told (plain text; empty for nothing).
type ModReply struct {
	Text   string
	Ticket *Ticket
	// Refused is set when the action was refused (the place may show it
	// privately, e.g. an ephemeral Discord message).
	Refused bool
	// NotFound is set when no ticket matched the action's number or ref.
	NotFound bool
}

// ParseModButton reads a ticket button ID ("t.claim.12").
func ParseModButton(id string) (op string, ticket int64, ok bool) {
	rest, ok := strings.CutPrefix(id, modPrefix)
	if !ok {
		return "", 0, false
	}
	op, num, ok := strings.Cut(rest, ".")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return "", 0, false
	}
	switch op {
	case ModClaim, ModResolve, ModReturn:
		return op, n, true
	}
	return "", 0, false
}

// ParseModCommand reads a moderator's text command: "tickets", "claim 3",
// "resolve #3", "return 3", "note 3 text", "reply 3 text", "help". A
// leading "/" and a "@botname" suffix on the command word are ignored.
// Text that is not a command returns ok false.
func ParseModCommand(text string) (a ModAction, ok bool) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return a, false
	}
	word := strings.ToLower(strings.TrimPrefix(f[0], "/"))
	word, _, _ = strings.Cut(word, "@")
	switch word {
	case "tickets", "list", "queue":
		return ModAction{Op: ModList}, true
	case "help", "modhelp":
		return ModAction{Op: ModHelp}, true
	case ModClaim, ModResolve, ModReturn, ModNote, ModRelay:
	default:
		return a, false
	}
	a.Op = word
	rest := strings.TrimSpace(strings.TrimSpace(text)[len(f[0]):])
	if len(f) > 1 {
		if n, err := strconv.ParseInt(strings.TrimPrefix(f[1], "#"), 10, 64); err == nil && n > 0 {
			a.Ticket = n
			rest = strings.TrimSpace(rest[len(f[1]):])
		}
	}
	if a.Op == ModNote || a.Op == ModRelay {
		a.Text = rest
	}
	return a, true
}

// effects are what a turn asks for outside its own conversation: done
// after the turn is stored.
type effects struct {
	ticket   *Handoff // the turn opened (or found) the ticket of this hand-off
	ticketID int64    // the ticket the conversation was on when the turn began
	move     *move
	notes    []string // lines shown next to the ticket in every place
	note     *Note    // a note kept on the ticket
	rate     *rating
	runFlow  bool // the hand-off is over: let the flow answer this input
}

type move struct {
	from []TicketState
	to   TicketState
	by   string
}

type rating struct {
	stars   int
	comment string
}

// handoffTurn answers a user while their conversation is with the
// moderators. It runs inside the store's turn and only changes c. A press
// on a button that belongs to no open question (an old one of the
// assistant's) is stale: its replies are private.
func (e *Engine) handoffTurn(c *Conversation, m Message, in flows.Input, turn *Turn, fx *effects) []flows.Reply {
	mode := c.Handoff.Mode
	fx.ticketID = c.Handoff.Ticket
	replies := e.handoffReplies(c, m, in, fx)
	used := (m.Button == btnLeave || m.Button == btnContinue) && mode == ModeExpired ||
		strings.HasPrefix(m.Button, ratePrefix) && (mode == ModeRating || mode == ModeComment)
	if m.Button != "" && !used && !fx.runFlow {
		turn.Stale = true
		for i := range replies {
			replies[i].Private = true
		}
	}
	return replies
}

func (e *Engine) handoffReplies(c *Conversation, m Message, in flows.Input, fx *effects) []flows.Reply {
	h := c.Handoff
	k := e.cfg.KB
	if h.Ticket == 0 && (h.Mode == ModePending || h.Mode == ModeClaimed) {
		fx.ticket = &Handoff{Key: c.Key, UserName: m.UserName, Address: c.Address, Time: c.Updated, Summary: summaryOf(c.State)}
	}
	switch m.Command {
	case flows.CmdCancel, flows.CmdStart, flows.CmdTroubleshoot:
		if h.Mode == ModePending || h.Mode == ModeClaimed {
			to := TicketExpired
			if h.Mode == ModeClaimed {
				to = TicketResolved
			}
			fx.move = &move{from: []TicketState{TicketPending, TicketClaimed}, to: to, by: "user"}
			fx.notes = append(fx.notes, "The user cancelled the request.")
		}
		c.Handoff = nil
		c.State = flows.State{Phase: flows.Idle, Seq: c.State.Seq, Turns: c.State.Turns}
		fx.ticket = nil
		if m.Command != flows.CmdCancel {
			fx.runFlow = true
			return []flows.Reply{}
		}
		return []flows.Reply{{Text: k.Msg("handoff_cancelled")}, {Text: k.Msg("ask_problem")}}
	}
	says := strings.TrimSpace(in.Text)
	switch h.Mode {
	case ModePending:
		if says != "" {
			fx.notes = append(fx.notes, userNote(k.Msg("mod_user_message"), c, m.UserName, says))
		}
		return []flows.Reply{{Text: k.Msg("handoff_waiting")}}
	case ModeClaimed:
		switch {
		case says != "":
			fx.notes = append(fx.notes, userNote(k.Msg("mod_user_message"), c, m.UserName, says))
		case m.NonText:
			fx.notes = append(fx.notes, userNote(k.Msg("mod_user_message"), c, m.UserName, "[sent something that isn't text]"))
		}
		return []flows.Reply{}
	case ModeExpired:
		if m.Button == btnLeave {
			h.Mode = ModeLeaveMsg
			return []flows.Reply{{Text: k.Msg("leave_message")}}
		}
		c.Handoff = nil
		c.State.Phase, c.State.Question = flows.Idle, ""
		if says != "" && m.Button == "" {
			fx.runFlow = true
			return []flows.Reply{}
		}
		return []flows.Reply{{Text: k.Msg("ask_problem")}}
	case ModeLeaveMsg:
		if says == "" || m.Button != "" {
			return []flows.Reply{{Text: k.Msg("leave_message")}}
		}
		fx.note = &Note{By: "user", Text: says, Time: c.Updated}
		fx.notes = append(fx.notes, userNote(k.Msg("mod_left_message"), c, m.UserName, says))
		c.Handoff = nil
		c.State.Phase, c.State.Question = flows.Done, ""
		return []flows.Reply{{Text: k.Msg("message_left")}}
	case ModeRating:
		stars := 0
		if n, ok := strings.CutPrefix(m.Button, ratePrefix); ok {
			stars, _ = strconv.Atoi(n)
		} else if m.Button == "" {
			stars, _ = strconv.Atoi(strings.Trim(says, " .!*⭐"))
		}
		if stars >= 1 && stars <= 5 {
			h.Rating, h.Mode = stars, ModeComment
			return []flows.Reply{{Text: k.Msg("ask_comment"), Buttons: []flows.Button{{ID: btnSkip, Label: k.Msg("btn_skip")}}}}
		}
		if says != "" && m.Button == "" {
			// They moved on without rating.
			c.Handoff = nil
			fx.runFlow = true
			return []flows.Reply{}
		}
		return []flows.Reply{rateReply(e)}
	case ModeComment:
		comment := ""
		if m.Button == "" {
			comment = says
		}
		fx.rate = &rating{stars: h.Rating, comment: comment}
		fx.notes = append(fx.notes, fill(k.Msg("mod_rated"), map[string]string{
			"id": strconv.FormatInt(h.Ticket, 10), "rating": strconv.Itoa(h.Rating), "text": orDash(comment)}))
		c.Handoff = nil
		return []flows.Reply{{Text: k.Msg("rated")}}
	}
	c.Handoff = nil
	fx.runFlow = true
	return []flows.Reply{}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func userNote(tmpl string, c *Conversation, name, text string) string {
	id := int64(0)
	if c.Handoff != nil {
		id = c.Handoff.Ticket
	}
	user := c.Key.String()
	if name != "" {
		user = name + " on " + c.Key.Channel
	}
	return fill(tmpl, map[string]string{"user": user, "id": strconv.FormatInt(id, 10), "text": text})
}

func rateReply(e *Engine) flows.Reply {
	r := flows.Reply{Text: e.cfg.KB.Msg("rate")}
	for i := 1; i <= 5; i++ {
		r.Buttons = append(r.Buttons, flows.Button{ID: ratePrefix + strconv.Itoa(i), Label: strings.Repeat("⭐", i)})
	}
	return r
}

func summaryOf(s flows.State) flows.Summary {
	reason := s.Reason
	if reason == "" {
		reason = flows.ReasonAsked
	}
	return flows.Summary{Reason: reason, Detected: s.Detected, RuledOut: s.RuledOut, Tried: s.Tried, Answers: s.Answers, Last: s.Last}
}

// apply carries out a turn's effects. The caller holds the key's lock.
func (e *Engine) apply(ctx context.Context, key Key, fx effects, now time.Time) error {
	if fx.ticket == nil && fx.move == nil && len(fx.notes) == 0 && fx.note == nil && fx.rate == nil {
		return nil
	}
	var errs []error
	var t Ticket
	var err error
	switch {
	case fx.ticket != nil:
		// Stored with the turn.
		if t, err = e.cfg.Store.OpenTicket(ctx, key); err != nil {
			return fmt.Errorf("bot: the hand-off's ticket: %w", err)
		}
	case fx.ticketID != 0:
		if t, err = e.cfg.Store.GetTicket(ctx, fx.ticketID); err != nil {
			return fmt.Errorf("bot: ticket %d: %w", fx.ticketID, err)
		}
	default:
		if t, err = e.cfg.Store.OpenTicket(ctx, key); err != nil {
			return nil // nothing to act on
		}
	}
	if t.State.Open() {
		// A new hand-off, or one a crash or a place's outage left unshown:
		// show it to the moderators and tell the user their place in the
		// queue (once per ticket).
		show := !e.shownEverywhere(t) && (fx.ticket != nil || !e.cfg.Shared || now.Sub(t.Created) >= repairAfter)
		if show {
			t = e.showTicket(ctx, t)
		}
		if show || fx.ticket != nil {
			errs = append(errs, e.tellQueue(ctx, key, t, now))
		}
	}
	if fx.note != nil {
		errs = append(errs, e.cfg.Store.AddNote(ctx, t.ID, *fx.note))
	}
	if fx.rate != nil {
		errs = append(errs, e.cfg.Store.RateTicket(ctx, t.ID, fx.rate.stars, fx.rate.comment, now))
	}
	for _, n := range fx.notes {
		if !e.shownEverywhere(t) {
			// A place hasn't shown the ticket yet: keep the line on the
			// ticket, so it is there when the place does.
			errs = append(errs, e.cfg.Store.AddNote(ctx, t.ID, Note{By: "user", Text: n, Time: now}))
		}
		e.notifyPlaces(ctx, t, n)
	}
	if fx.move != nil {
		moved, err := e.cfg.Store.MoveTicket(ctx, t.ID, fx.move.from, fx.move.to, fx.move.by, now)
		if err == nil {
			e.updatePlaces(ctx, moved)
		} else if !errors.Is(err, ErrTicketState) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// shownEverywhere reports whether every moderators' place has shown t.
func (e *Engine) shownEverywhere(t Ticket) bool {
	for _, p := range e.places() {
		if t.Refs[p.Name()] == "" {
			return false
		}
	}
	return true
}

// showTicket posts an open ticket in every moderators' place that hasn't
// shown it yet and stores where; it returns the ticket as it now is.
func (e *Engine) showTicket(ctx context.Context, t Ticket) Ticket {
	posted := false
	for _, p := range e.places() {
		if t.Refs[p.Name()] != "" {
			continue
		}
		ref, err := p.Post(ctx, t, e.TicketView(t))
		if err != nil {
			e.cfg.Logger.Error("ticket not shown to moderators", "place", p.Name(), "ticket", t.ID, "err", err)
			continue
		}
		if err := e.cfg.Store.SetTicketRef(ctx, t.ID, p.Name(), ref); err != nil {
			e.cfg.Logger.Error("ticket ref not stored", "place", p.Name(), "ticket", t.ID, "err", err)
		}
		posted = true
	}
	if !posted {
		return t
	}
	e.cfg.Logger.Info("ticket shown to moderators", "ticket", t.ID, "reason", t.Reason)
	// A moderator may have acted (or the claim timer run) while the ticket
	// was being posted, before its refs were stored: show its state now.
	now, err := e.cfg.Store.GetTicket(ctx, t.ID)
	if err != nil {
		return t
	}
	if now.State != t.State {
		e.updatePlaces(ctx, now)
	}
	return now
}

// tellQueue tells a user waiting for a moderator their place in the
// queue (once per ticket).
func (e *Engine) tellQueue(ctx context.Context, key Key, t Ticket, now time.Time) error {
	if t.State != TicketPending {
		return nil
	}
	pending, err := e.cfg.Store.ListTickets(ctx, TicketPending)
	if err != nil {
		return err
	}
	pos := 0
	for _, p := range pending {
		if p.ID <= t.ID {
			pos++
		}
	}
	if pos == 0 {
		return nil
	}
	return e.turnLocked(ctx, key, "queue:"+strconv.FormatInt(t.ID, 10), now, func(c *Conversation) []flows.Reply {
		if c.Handoff == nil || c.Handoff.Ticket != t.ID || c.Handoff.Mode != ModePending {
			return nil
		}
		return []flows.Reply{{Text: fill(e.cfg.KB.Msg("handoff_queue"), map[string]string{"position": strconv.Itoa(pos)})}}
	})
}

// turnLocked runs a turn the user did not start (a moderator's message, a
// claim, a timer) on a conversation whose lock the caller holds, and
// delivers its replies.
func (e *Engine) turnLocked(ctx context.Context, key Key, msgID string, now time.Time, fn func(c *Conversation) []flows.Reply) error {
	out, err := e.cfg.Store.Turn(ctx, key, msgID, func(c *Conversation) (Change, error) {
		var ch Change
		if c.Version == 0 {
			// Never seen (or forgotten): nothing to continue.
			return ch, errGone
		}
		replies := fn(c)
		c.Updated = now
		ch.addReplies(key, c.Address, replies, now)
		return ch, nil
	})
	if errors.Is(err, ErrDuplicate) || errors.Is(err, errGone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bot: turn %s: %w", key, err)
	}
	return e.deliver(ctx, key.Channel, out)
}

var errGone = errors.New("conversation gone")

// userTurn is turnLocked for callers that don't hold the key's lock.
func (e *Engine) userTurn(ctx context.Context, key Key, msgID string, now time.Time, fn func(c *Conversation) []flows.Reply) error {
	unlock, err := e.locks.Lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	return e.turnLocked(ctx, key, msgID, now, fn)
}

func (e *Engine) updatePlaces(ctx context.Context, t Ticket) {
	v := e.TicketView(t)
	for _, p := range e.places() {
		ref := t.Refs[p.Name()]
		if ref == "" {
			continue
		}
		if err := p.Update(ctx, t, ref, v); err != nil {
			e.cfg.Logger.Error("ticket update not shown", "place", p.Name(), "ticket", t.ID, "err", err)
		}
	}
}

func (e *Engine) notifyPlaces(ctx context.Context, t Ticket, text string) {
	for _, p := range e.places() {
		ref := t.Refs[p.Name()]
		if ref == "" {
			continue
		}
		if err := p.Notify(ctx, t, ref, text); err != nil {
			e.cfg.Logger.Error("ticket note not shown", "place", p.Name(), "ticket", t.ID, "err", err)
		}
	}
}

// Moderate carries out a moderator's action. Only moderators may act; a
// refusal is logged. The reply is for the moderator.
func (e *Engine) Moderate(ctx context.Context, a ModAction) (ModReply, error) {
	k := e.cfg.KB
	now := e.cfg.Clock()
	a.Name, _ = Clean(a.Name, maxName)
	if ok, tell := e.users.allow("mod:"+a.Moderator, now); !ok {
		if h := e.cfg.Hooks.Limited; h != nil {
			h("moderator_rate")
		}
		if tell {
			return ModReply{Text: k.Msg("rate_limited"), Refused: true}, nil
		}
		return ModReply{Refused: true}, nil
	}
	if !a.IsModerator {
		e.cfg.Logger.Warn("moderator action refused: not a moderator", "place", a.Place, "who", a.Moderator, "op", a.Op)
		return ModReply{Text: k.Msg("mod_not_moderator"), Refused: true}, nil
	}
	switch a.Op {
	case ModHelp:
		return ModReply{Text: k.Msg("mod_help")}, nil
	case ModList:
		return e.listTickets(ctx)
	}
	t, err := e.findTicket(ctx, a)
	if errors.Is(err, ErrNotFound) {
		if a.Ticket == 0 {
			// Found by where it happened, not by number: the place explains.
			return ModReply{Refused: true, NotFound: true}, nil
		}
		return ModReply{Text: fill(k.Msg("mod_not_found"), map[string]string{"id": strconv.FormatInt(a.Ticket, 10)}), Refused: true, NotFound: true}, nil
	}
	if err != nil {
		return ModReply{}, err
	}
	vars := map[string]string{"id": strconv.FormatInt(t.ID, 10), "moderator": t.ModeratorName, "state": string(t.State)}
	switch a.Op {
	case ModNote:
		if strings.TrimSpace(a.Text) == "" {
			return ModReply{Text: k.Msg("mod_help"), Refused: true}, nil
		}
		if err := e.cfg.Store.AddNote(ctx, t.ID, Note{By: a.Name, Text: a.Text, Time: now}); err != nil {
			return ModReply{}, err
		}
		return ModReply{Text: fill(k.Msg("mod_noted"), vars), Ticket: &t}, nil
	case ModClaim:
		return e.claim(ctx, a, t, now)
	case ModRelay:
		if strings.TrimSpace(a.Text) == "" {
			return ModReply{Text: k.Msg("mod_help"), Refused: true}, nil
		}
		if t.State == TicketPending {
			r, err := e.claim(ctx, a, t, now)
			if err != nil || r.Refused {
				return r, err
			}
			t = *r.Ticket
		}
		switch {
		case !t.State.Open():
			return ModReply{Text: fill(k.Msg("mod_closed"), vars), Refused: true}, nil
		case t.Moderator != a.Moderator:
			return ModReply{Text: fill(k.Msg("mod_not_yours"), vars), Refused: true}, nil
		}
		text, _ := Clean(a.Text, e.cfg.MaxText)
		err := e.userTurn(ctx, t.Key, "relay:"+a.Place+":"+a.MsgID, now, func(c *Conversation) []flows.Reply {
			return []flows.Reply{{Text: fill(k.Msg("relay"), map[string]string{"moderator": a.Name, "text": text})}}
		})
		return ModReply{Ticket: &t}, err
	case ModResolve, ModReturn:
		to, mode := TicketResolved, ModeRating
		if a.Op == ModReturn {
			to = TicketReturned
		}
		if t.State == TicketClaimed && t.Moderator != a.Moderator && a.Op == ModReturn {
			return ModReply{Text: fill(k.Msg("mod_not_yours"), vars), Refused: true}, nil
		}
		moved, err := e.cfg.Store.MoveTicket(ctx, t.ID, []TicketState{TicketPending, TicketClaimed}, to, a.Moderator, now)
		if errors.Is(err, ErrTicketState) {
			vars["state"] = string(moved.State)
			return ModReply{Text: fill(k.Msg("mod_closed"), vars), Refused: true}, nil
		}
		if err != nil {
			return ModReply{}, err
		}
		err = e.userTurn(ctx, t.Key, a.Op+":"+strconv.FormatInt(t.ID, 10), now, func(c *Conversation) []flows.Reply {
			if c.Handoff == nil || (c.Handoff.Ticket != t.ID && c.Handoff.Ticket != 0) {
				return nil
			}
			if to == TicketReturned {
				c.Handoff = nil
				c.State.Phase, c.State.Question, c.State.Outcome = flows.Idle, "", ""
				return []flows.Reply{{Text: k.Msg("handoff_returned")}}
			}
			c.Handoff = &HandoffState{Ticket: t.ID, Mode: mode, Moderator: c.Handoff.Moderator}
			c.State = flows.State{Phase: flows.Done, Seq: c.State.Seq, Turns: c.State.Turns, Outcome: flows.OutcomeHandedOff}
			return []flows.Reply{rateReply(e)}
		})
		e.updatePlaces(ctx, moved)
		vars["state"] = string(moved.State)
		return ModReply{Text: fill(k.Msg("mod_done"), vars), Ticket: &moved}, err
	}
	return ModReply{Text: k.Msg("mod_help"), Refused: true}, nil
}

func (e *Engine) claim(ctx context.Context, a ModAction, t Ticket, now time.Time) (ModReply, error) {
	k := e.cfg.KB
	claimed, err := e.cfg.Store.ClaimTicket(ctx, t.ID, a.Moderator, a.Name, now)
	vars := map[string]string{"id": strconv.FormatInt(t.ID, 10), "moderator": claimed.ModeratorName, "state": string(claimed.State)}
	switch {
	case errors.Is(err, ErrClaimed):
		if claimed.Moderator == a.Moderator {
			return ModReply{Text: fill(k.Msg("mod_done"), vars), Ticket: &claimed}, nil
		}
		return ModReply{Text: fill(k.Msg("mod_already_claimed"), vars), Ticket: &claimed, Refused: true}, nil
	case errors.Is(err, ErrTicketClosed):
		return ModReply{Text: fill(k.Msg("mod_closed"), vars), Ticket: &claimed, Refused: true}, nil
	case err != nil:
		return ModReply{}, err
	}
	if hook := e.cfg.Hooks.Claimed; hook != nil {
		hook(now.Sub(claimed.Created))
	}
	err = e.userTurn(ctx, t.Key, "claim:"+strconv.FormatInt(t.ID, 10), now, func(c *Conversation) []flows.Reply {
		if c.Handoff == nil {
			return nil
		}
		c.Handoff.Ticket, c.Handoff.Mode, c.Handoff.Moderator = t.ID, ModeClaimed, a.Name
		return []flows.Reply{{Text: fill(k.Msg("handoff_claimed"), map[string]string{"moderator": a.Name})}}
	})
	e.updatePlaces(ctx, claimed)
	return ModReply{Text: fill(k.Msg("mod_done"), vars), Ticket: &claimed}, err
}

func (e *Engine) findTicket(ctx context.Context, a ModAction) (Ticket, error) {
	if a.Ticket != 0 {
		return e.cfg.Store.GetTicket(ctx, a.Ticket)
	}
	if a.Ref != "" {
		return e.cfg.Store.TicketByRef(ctx, a.Place, a.Ref)
	}
	return Ticket{}, ErrNotFound
}

func (e *Engine) listTickets(ctx context.Context) (ModReply, error) {
	ts, err := e.cfg.Store.ListTickets(ctx, TicketPending, TicketClaimed)
	if err != nil {
		return ModReply{}, err
	}
	if len(ts) == 0 {
		return ModReply{Text: e.cfg.KB.Msg("mod_no_tickets")}, nil
	}
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "#%d %s (%s), %s", t.ID, displayName(t), t.Reason, t.State)
		if t.State == TicketClaimed {
			fmt.Fprintf(&b, " by %s", t.ModeratorName)
		}
	}
	return ModReply{Text: b.String()}, nil
}

func displayName(t Ticket) string {
	if t.UserName != "" {
		return t.UserName + " on " + t.Key.Channel
	}
	return t.Key.String()
}

// Tick does the engine's timed work: tickets nobody claimed within
// ClaimTimeout expire (the user is told honestly and may leave a message
// or go on with the assistant), and undelivered replies are sent again.
func (e *Engine) Tick(ctx context.Context) error {
	now := e.cfg.Clock()
	var errs []error
	pending, err := e.cfg.Store.ListTickets(ctx, TicketPending)
	if err != nil {
		return err
	}
	k := e.cfg.KB
	for _, t := range pending {
		if now.Sub(t.Created) < e.cfg.ClaimTimeout {
			continue
		}
		moved, err := e.cfg.Store.MoveTicket(ctx, t.ID, []TicketState{TicketPending}, TicketExpired, "timeout", now)
		if err != nil {
			if !errors.Is(err, ErrTicketState) {
				errs = append(errs, err)
			}
			continue // claimed meanwhile, or another instance expired it
		}
		e.cfg.Logger.Info("hand-off ticket expired", "ticket", t.ID)
		errs = append(errs, e.userTurn(ctx, t.Key, "expire:"+strconv.FormatInt(t.ID, 10), now, func(c *Conversation) []flows.Reply {
			if c.Handoff == nil || c.Handoff.Ticket != t.ID {
				return nil
			}
			c.Handoff.Mode = ModeExpired
			return []flows.Reply{{Text: k.Msg("handoff_expired"), Buttons: []flows.Button{
				{ID: btnLeave, Label: k.Msg("btn_leave_message")},
				{ID: btnContinue, Label: k.Msg("btn_continue")},
			}}}
		}))
		e.updatePlaces(ctx, moved)
	}
	// Tickets a moderators' place hasn't shown (the process died between
	// storing a hand-off and posting it, or the place was down): show them.
	open, err := e.cfg.Store.ListTickets(ctx, TicketPending, TicketClaimed)
	if err != nil {
		errs = append(errs, err)
	}
	for _, t := range open {
		if e.shownEverywhere(t) || now.Sub(t.Created) < repairAfter {
			continue
		}
		unlock, err := e.locks.Lock(ctx, t.Key)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if cur, err := e.cfg.Store.GetTicket(ctx, t.ID); err == nil && cur.State.Open() {
			e.showTicket(ctx, cur)
		}
		unlock()
	}
	errs = append(errs, e.Redeliver(ctx))
	return errors.Join(errs...)
}

// repairAfter is how old a ticket must be before the timer posts it where
// it is missing (younger ones are being posted by their turn).
const repairAfter = 30 * time.Second

// Run calls Tick every interval until ctx ends. It logs Tick's errors.
func (e *Engine) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = 30 * time.Second
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
			if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
				e.cfg.Logger.Error("timed work failed", "err", err)
			}
		}
	}
}

// TicketView renders a ticket for moderators: who, why, what was found
// and tried, what they said, and the buttons that fit its state.
func (e *Engine) TicketView(t Ticket) TicketView {
	k := e.cfg.KB
	vars := map[string]string{"id": strconv.FormatInt(t.ID, 10), "user": displayName(t), "reason": t.Reason,
		"moderator": t.ModeratorName, "state": string(t.State)}
	var b strings.Builder
	b.WriteString(fill(k.Msg("mod_ticket"), vars))
	b.WriteString("\n")
	if t.State == TicketClaimed {
		b.WriteString(fill(k.Msg("mod_claimed_by"), vars))
	} else {
		b.WriteString(fill(k.Msg("mod_state"), vars))
	}
	title := func(ids []string) string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = id
			if c := k.Cause(id); c != nil {
				out[i] = c.Title
			}
		}
		return strings.Join(out, "; ")
	}
	s := t.Summary
	if len(s.Detected) > 0 {
		fmt.Fprintf(&b, "\nCauses considered: %s", title(s.Detected))
	}
	if len(s.RuledOut) > 0 {
		fmt.Fprintf(&b, "\nRuled out: %s", title(s.RuledOut))
	}
	if len(s.Tried) > 0 {
		fmt.Fprintf(&b, "\nFix steps tried, did not help: %s", title(s.Tried))
	}
	for _, a := range s.Answers {
		fmt.Fprintf(&b, "\nAnswer (%s): %s", a.Question, a.Text)
	}
	for _, l := range s.Last {
		fmt.Fprintf(&b, "\nSaid: %s", l)
	}
	for _, n := range t.Notes {
		if n.By == "user" {
			fmt.Fprintf(&b, "\n%s", n.Text)
		} else {
			fmt.Fprintf(&b, "\nNote by %s: %s", n.By, n.Text)
		}
	}
	var buttons []flows.Button
	id := strconv.FormatInt(t.ID, 10)
	switch t.State {
	case TicketPending:
		buttons = []flows.Button{
			{ID: modPrefix + ModClaim + "." + id, Label: k.Msg("btn_claim")},
			{ID: modPrefix + ModResolve + "." + id, Label: k.Msg("btn_resolve")},
			{ID: modPrefix + ModReturn + "." + id, Label: k.Msg("btn_return")},
		}
	case TicketClaimed:
		buttons = []flows.Button{
			{ID: modPrefix + ModResolve + "." + id, Label: k.Msg("btn_resolve")},
			{ID: modPrefix + ModReturn + "." + id, Label: k.Msg("btn_return")},
		}
	}
	return TicketView{Text: b.String(), Buttons: buttons}
}

// fill puts values into a message template's {placeholders}.
func fill(tmpl string, vars map[string]string) string {
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}
