package flows

import (
	"slices"
	"strings"

	"github.com/dmdoctor/dmdoctor/kb"
)

// Config holds the thresholds of the flows. The zero value of a field
// means its default.
type Config struct {
	// Accept is the confidence at which an intent is acted on (0.5).
	Accept float64
	// SuggestMin is the confidence an alternative needs to be offered in
	// "did you mean …?" (0.15).
	SuggestMin float64
	// SkipConfirm is the confidence above which a named cause's confirming
	// question is skipped and its fix steps given at once (0.85).
	SkipConfirm float64
	// MaxLast is how many of the user's last messages are kept for a
	// hand-off summary (5).
	MaxLast int
	// FocusBoost is how much likelier a message is to be about the cause
	// being confirmed or fixed than the classifier alone says (4): another
	// cause must be read FocusBoost times as confidently to take over.
	FocusBoost float64
}

func (c Config) withDefaults() Config {
	if c.Accept == 0 {
		c.Accept = 0.5
	}
	if c.SuggestMin == 0 {
		c.SuggestMin = 0.15
	}
	if c.SkipConfirm == 0 {
		c.SkipConfirm = 0.85
	}
	if c.MaxLast == 0 {
		c.MaxLast = 5
	}
	if c.FocusBoost == 0 {
		c.FocusBoost = 4
	}
	return c
}

// maxRemembered bounds each remembered message, in runes.
const maxRemembered = 280

// Flow runs conversations over one knowledge base. It is immutable and
// safe for concurrent use.
type Flow struct {
	kb  *kb.KB
	cfg Config
	// texts are each cause's rendered introduction and fix steps, the
	// same on every turn: rendered once by New.
	texts map[string]causeTexts
	// norms are the KB's option labels, match words and button phrases,
	// normalised once by New for matching typed answers (see normalized).
	norms map[string]string
}

type causeTexts struct {
	intro, steps string
}

// New returns a Flow over a validated knowledge base.
func New(k *kb.KB, cfg Config) *Flow {
	f := &Flow{kb: k, cfg: cfg.withDefaults(), texts: make(map[string]causeTexts, len(k.Causes))}
	for _, c := range k.Causes {
		f.texts[c.ID] = causeTexts{intro: fill(k.Msg("cause_intro"), c), steps: stepsText(k, c)}
	}
	f.norms = map[string]string{}
	addQuestion := func(q kb.Question) {
		for _, o := range q.Options {
			for _, s := range append([]string{o.Label, o.ID}, o.Match...) {
				f.norms[s] = normalize(s)
			}
		}
	}
	for _, q := range k.Triage.Questions {
		addQuestion(q)
	}
	for _, c := range k.Causes {
		for _, q := range c.Questions {
			addQuestion(q)
		}
	}
	for _, q := range k.FAQ {
		f.norms[q.Question] = normalize(q.Question)
	}
	for _, m := range k.Messages {
		f.norms[m] = normalize(m)
	}
	return f
}

// normalized is normalize(s), looked up for the KB's own phrases.
func (f *Flow) normalized(s string) string {
	if n, ok := f.norms[s]; ok {
		return n
	}
	return normalize(s)
}

// KB returns the knowledge base the flow runs on.
func (f *Flow) KB() *kb.KB { return f.kb }

// Step runs one turn: given the conversation's state and the user's input
// it returns the new state and the replies. It never fails: input it can't
// use gets a kind reply that says what to do.
func (f *Flow) Step(s State, in Input) Output {
	t := &turn{f: f, k: f.kb, s: s.clone(), in: in}
	if t.s.Phase == "" {
		t.s.Phase = Idle
	}
	t.s.Turns++
	if strings.TrimSpace(in.Text) != "" && in.Button == "" {
		t.remember(in.Text)
	}
	switch {
	case in.Command != "":
		t.command()
	case in.Button != "":
		t.button(in.Button)
	case in.NonText:
		t.say("not_text")
		t.reprompt()
	case strings.TrimSpace(in.Text) == "":
		if t.open() {
			t.say("pick_option")
			t.reprompt()
		} else {
			t.say("empty")
		}
	default:
		t.text()
	}
	if t.stale {
		for i := range t.replies {
			t.replies[i].Private = true
		}
	}
	return Output{State: t.s, Replies: t.replies, Handoff: t.handoff, Stale: t.stale, Outcome: t.outcome}
}

// turn is the working state of one Step.
type turn struct {
	f       *Flow
	k       *kb.KB
	s       State
	in      Input
	replies []Reply
	handoff *Summary
	stale   bool
	outcome string
}

func (s State) clone() State {
	c := s
	if s.Belief != nil {
		c.Belief = make(map[string]float64, len(s.Belief))
		for k, v := range s.Belief {
			c.Belief[k] = v
		}
	}
	c.Asked = slices.Clone(s.Asked)
	c.Detected = slices.Clone(s.Detected)
	c.Tried = slices.Clone(s.Tried)
	c.RuledOut = slices.Clone(s.RuledOut)
	c.Answers = slices.Clone(s.Answers)
	c.Suggest = slices.Clone(s.Suggest)
	c.Last = slices.Clone(s.Last)
	return c
}

func (t *turn) remember(text string) {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > maxRemembered {
		text = string(r[:maxRemembered]) + "…"
	}
	t.s.Last = append(t.s.Last, text)
	if n := len(t.s.Last) - t.f.cfg.MaxLast; n > 0 {
		t.s.Last = t.s.Last[n:]
	}
}

// reset starts a new conversation, keeping only the question counter (so
// old buttons stay recognisably stale) and the turn count.
func (t *turn) reset() {
	t.s = State{Phase: Idle, Seq: t.s.Seq, Turns: t.s.Turns, Last: t.s.Last}
}

// open reports whether a question with answers is waiting.
func (t *turn) open() bool {
	switch t.s.Phase {
	case Triage, Confirm, Feedback, OfferHuman, Suggest:
		return true
	}
	return false
}

func (t *turn) command() {
	switch t.in.Command {
	case CmdStart:
		// "/start continue" (a deep link from a group to a private chat)
		// goes on where the conversation was.
		if strings.TrimSpace(t.in.Text) == StartContinue && (t.open() || t.s.Phase == Handoff) {
			t.say("continue")
			t.reprompt()
			return
		}
		t.reset()
		t.welcome()
	case CmdHelp:
		t.help()
	case CmdTroubleshoot:
		t.reset()
		if strings.TrimSpace(t.in.Text) != "" && t.accepted() && t.isCause(t.in.NLU.Intent) {
			t.enterCause(t.in.NLU.Intent, t.in.NLU.Confidence)
			return
		}
		t.startTriage()
	case CmdHuman:
		t.startHandoff(ReasonAsked)
	case CmdCancel:
		t.reset()
		t.say("start_over")
		t.say("ask_problem")
	default:
		t.say("help")
	}
}

// welcome greets the user and says what the assistant does, or, when it
// already did in this conversation (a "hi" right after /start), just asks
// what happens.
func (t *turn) welcome() {
	if t.s.Welcomed {
		t.say("ask_problem")
		return
	}
	t.say("welcome")
	t.s.Welcomed = true
}

func (t *turn) help() {
	t.sayButtons(t.k.Msg("help"),
		Button{ID: btnFAQ, Label: t.k.Msg("btn_faq")},
		Button{ID: btnChecklist, Label: t.k.Msg("btn_checklist")},
		Button{ID: btnHuman, Label: t.k.Msg("btn_human")})
	t.reprompt()
}

// promoteCause reads "yeah i got banned yesterday" as the ban, not as a
// bare yes: when the best reading is yes or no but a cause other than the
// one in focus is also clearly read (SuggestMin×2), the message names that
// cause, with the confidence of both readings together. A yes or no about
// the cause in focus stays an answer.
func (t *turn) promoteCause() {
	n := t.in.NLU
	if n.Intent != kb.Affirm && n.Intent != kb.Deny {
		return
	}
	for _, g := range n.Ranked {
		if t.isCause(g.Intent) && g.Intent != t.s.Cause && g.Confidence >= 2*t.f.cfg.SuggestMin {
			t.in.NLU.Intent = g.Intent
			t.in.NLU.Confidence = min(1, n.Confidence+g.Confidence)
			return
		}
	}
}

// focus reads a message in the light of the cause being confirmed or
// fixed: when the best reading is another cause, or the bare complaint, but
// the cause in focus is read with at least 1/FocusBoost of its confidence,
// the message is taken to be about the cause in focus, with that
// confidence times FocusBoost (at most 1). "how long does it last?" after
// the steps for a ban is about the ban, even if the words alone lean
// towards the spam filter's limits.
func (t *turn) focus() {
	if t.s.Cause == "" || (t.s.Phase != Confirm && t.s.Phase != Feedback) {
		return
	}
	n := t.in.NLU
	if n.Intent == t.s.Cause || !(t.isCause(n.Intent) || n.Intent == kb.CantSend) {
		return
	}
	for _, g := range n.Ranked {
		if g.Intent == t.s.Cause && t.f.cfg.FocusBoost*g.Confidence >= n.Confidence {
			t.in.NLU.Intent = g.Intent
			t.in.NLU.Confidence = min(1, t.f.cfg.FocusBoost*g.Confidence)
			return
		}
	}
}

// questionWords open a question in English.
var questionWords = map[string]bool{
	"how": true, "what": true, "when": true, "why": true, "where": true, "which": true, "who": true,
	"can": true, "could": true, "is": true, "are": true, "do": true, "does": true, "will": true,
	"would": true, "should": true, "whats": true, "hows": true,
}

// isQuestion reports whether text asks something: it ends with a question
// mark or starts with a question word.
func isQuestion(text string) bool {
	text = strings.TrimSpace(text)
	if strings.HasSuffix(text, "?") {
		return true
	}
	first, _, _ := strings.Cut(strings.ToLower(text), " ")
	return questionWords[strings.Trim(first, ",.!'’")]
}

// accepted reports whether the classifier's best intent is confident
// enough to act on.
func (t *turn) accepted() bool {
	n := t.in.NLU
	return n.Intent != kb.OutOfScope && n.Intent != "" && n.Confidence >= t.f.cfg.Accept
}

func (t *turn) isCause(id string) bool { return t.k.Cause(id) != nil }

// text handles typed text.
func (t *turn) text() {
	if t.s.Phase == Done {
		t.reset()
	}
	if t.s.Phase == Handoff {
		t.inHandoff()
		return
	}
	t.promoteCause()
	t.focus()
	if t.open() {
		if btn, ok := t.matchOption(t.in.Text); ok {
			t.button(btn)
			return
		}
	}
	if !t.accepted() {
		t.miss()
		return
	}
	t.s.Misses = 0
	intent := t.in.NLU.Intent
	// again: the cause whose fix steps were just given is named again.
	again := t.s.Phase == Feedback && intent == t.s.Cause && t.isCause(intent)
	switch {
	case intent == kb.Human:
		t.startHandoff(ReasonAsked)
	case intent == kb.StartOver:
		t.reset()
		t.say("start_over")
		t.say("ask_problem")
	case intent == kb.Help:
		t.help()
	case again && isQuestion(t.in.Text):
		// "how long does it last?": what we know of the cause, then the
		// open question again.
		t.replies = append(t.replies, Reply{Text: t.f.causeIntro(t.k.Cause(intent))})
		t.reprompt()
	case again || t.s.Phase == Feedback && intent == kb.CantSend:
		// The cause or the problem told again after the steps: they did
		// not help.
		t.notFixed()
	case t.isCause(intent):
		if t.s.Phase == Triage || t.s.Phase == Confirm {
			t.s.Answers = append(t.s.Answers, Answer{Question: t.s.Question, Text: t.in.Text})
		}
		t.enterCause(intent, t.in.NLU.Confidence)
	case intent == kb.CantSend && (t.s.Phase == Suggest || t.s.Phase == OfferHuman && t.s.Offer == ReasonNotUnderstood):
		// The problem, told clearly after the assistant failed to
		// understand: help with it instead of insisting on the buttons.
		t.reset()
		t.startTriage()
	case t.open():
		// Understood, but not an answer to the open question.
		if intent == kb.Thanks {
			t.say("thanks")
		} else {
			t.say("pick_option")
		}
		t.reprompt()
	case intent == kb.CantSend:
		t.startTriage()
	case intent == kb.Greet:
		t.welcome()
	case intent == kb.Thanks:
		t.say("thanks")
	default: // affirm, deny with nothing open
		t.say("ask_problem")
	}
}

func (t *turn) inHandoff() {
	if t.accepted() && t.in.NLU.Intent == kb.StartOver {
		t.reset()
		t.say("start_over")
		t.say("ask_problem")
		return
	}
	t.say("handoff_waiting")
}

// miss handles text the classifier could not place.
func (t *turn) miss() {
	t.s.Misses++
	if t.s.Misses >= 2 {
		t.s.Misses = 0
		t.say("missed_twice")
		t.offerHuman(ReasonNotUnderstood)
		return
	}
	if t.open() {
		t.say("pick_option")
		t.reprompt()
		return
	}
	var cands []string
	for _, g := range t.in.NLU.Ranked {
		if len(cands) == 2 || g.Confidence < t.f.cfg.SuggestMin {
			break
		}
		if t.isCause(g.Intent) || g.Intent == kb.CantSend || g.Intent == kb.Human {
			cands = append(cands, g.Intent)
		}
	}
	if len(cands) == 0 {
		if t.in.NLU.Intent == kb.OutOfScope {
			t.say("out_of_scope")
		} else {
			t.say("rephrase")
		}
		return
	}
	t.s.Phase = Suggest
	t.s.Suggest = cands
	t.s.Seq++
	t.replies = append(t.replies, t.suggestPrompt())
}

func (t *turn) suggestPrompt() Reply {
	r := Reply{Text: t.k.Msg("did_you_mean")}
	for _, id := range t.s.Suggest {
		r.Buttons = append(r.Buttons, Button{ID: t.qid("c." + id), Label: t.intentLabel(id)})
	}
	r.Buttons = append(r.Buttons, Button{ID: t.qid(tokNone), Label: t.k.Msg("btn_none")})
	return r
}

func (t *turn) intentLabel(id string) string {
	switch {
	case t.isCause(id):
		return t.k.Cause(id).Title
	case id == kb.Human:
		return t.k.Msg("btn_human")
	default:
		return t.k.Msg("btn_cant_send")
	}
}

// say appends the named KB message.
func (t *turn) say(name string) {
	t.replies = append(t.replies, Reply{Text: t.k.Msg(name)})
}

func (t *turn) sayButtons(text string, b ...Button) {
	t.replies = append(t.replies, Reply{Text: text, Buttons: b})
}
