package flows

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dmdoctor/dmdoctor/kb"
)

// startTriage begins the search for a cause with the triage questions.
func (t *turn) startTriage() {
	t.s.Phase = Triage
	t.initBelief()
	t.say("triage_intro")
	t.askNextTriage()
}

// initBelief sets the belief over causes from their priors, sharpened by
// whatever the classifier saw of each cause in the user's words.
func (t *turn) initBelief() {
	if t.s.Belief != nil {
		return
	}
	seen := map[string]float64{}
	for _, g := range t.in.NLU.Ranked {
		seen[g.Intent] = g.Confidence
	}
	t.s.Belief = make(map[string]float64, len(t.k.Causes))
	for _, c := range t.k.Causes {
		t.s.Belief[c.ID] = c.Prior * (1 + 4*seen[c.ID])
	}
	normalizeBelief(t.s.Belief)
}

// askNextTriage asks the most informative triage question, or concludes.
func (t *turn) askNextTriage() {
	best, p := bestCause(t.s.Belief, nil)
	if p < t.k.Triage.Confident && len(t.s.Asked) < t.k.Triage.MaxQuestions {
		if q := nextQuestion(t.k, t.s.Belief, t.s.Asked); q != nil {
			t.s.Asked = append(t.s.Asked, q.ID)
			t.ask(Triage, "", q.ID)
			return
		}
	}
	t.enterCause(best, p)
}

func (t *turn) triageAnswer(tok string) {
	q := t.k.Triage.Question(t.s.Question)
	o := findOption(q, tok)
	if o == nil {
		t.staleAnswer()
		return
	}
	t.s.Answers = append(t.s.Answers, Answer{Question: q.ID, Option: o.ID, Text: o.Label})
	if o.Reply != "" {
		t.replies = append(t.replies, Reply{Text: o.Reply})
	}
	if o.Then != "" {
		t.enterCause(o.Then, 1)
		return
	}
	t.s.Belief = posterior(t.s.Belief, q, o.ID)
	t.askNextTriage()
}

func findOption(q *kb.Question, tok string) *kb.Option {
	id, ok := strings.CutPrefix(tok, "o.")
	if q == nil || !ok {
		return nil
	}
	for i := range q.Options {
		if q.Options[i].ID == id {
			return &q.Options[i]
		}
	}
	return nil
}

// enterCause focuses the conversation on a cause: explain it, confirm it
// with a question where the KB has one and the cause isn't certain yet,
// else give the fix steps.
func (t *turn) enterCause(id string, confidence float64) {
	c := t.k.Cause(id)
	t.initBelief()
	t.s.Cause = id
	t.s.Checklist = false
	if !slices.Contains(t.s.Detected, id) {
		t.s.Detected = append(t.s.Detected, id)
	}
	t.replies = append(t.replies, Reply{Text: t.f.causeIntro(c)})
	if len(c.Questions) > 0 && confidence < t.f.cfg.SkipConfirm {
		t.confirm(c, c.Questions[0].ID)
		return
	}
	t.giveSteps(c)
}

// confirm asks a cause's question, unless the user already answered the
// triage question that asks the same thing (kb.FromTriage): then that
// answer, the latest if several, stands for this one, and the conversation
// goes on from it.
func (t *turn) confirm(c *kb.Cause, qid string) {
	if ft := c.Question(qid).FromTriage; ft != nil {
		for _, a := range slices.Backward(t.s.Answers) {
			if a.Question != ft.Question || a.Option == "" {
				continue
			}
			if to, ok := ft.Options[a.Option]; ok {
				t.s.Phase, t.s.Cause, t.s.Question = Confirm, c.ID, qid
				t.confirmAnswer("o." + to)
				return
			}
			break // answered with an option not mapped: ask
		}
	}
	t.ask(Confirm, c.ID, qid)
}

func (t *turn) confirmAnswer(tok string) {
	c := t.k.Cause(t.s.Cause)
	q := c.Question(t.s.Question)
	o := findOption(q, tok)
	if o == nil {
		t.staleAnswer()
		return
	}
	t.s.Answers = append(t.s.Answers, Answer{Question: q.ID, Option: o.ID, Text: o.Label})
	if o.Reply != "" {
		t.replies = append(t.replies, Reply{Text: o.Reply})
	}
	switch {
	case o.Then == kb.ThenFix:
		t.giveSteps(c)
	case o.Then == kb.ThenRuleOut:
		t.s.RuledOut = append(t.s.RuledOut, c.ID)
		delete(t.s.Belief, c.ID)
		normalizeBelief(t.s.Belief)
		t.nextCause()
	case c.Question(o.Then) != nil:
		t.confirm(c, o.Then)
	default: // another cause
		t.s.RuledOut = append(t.s.RuledOut, c.ID)
		delete(t.s.Belief, c.ID)
		t.enterCause(o.Then, 1)
	}
}

func (t *turn) giveSteps(c *kb.Cause) {
	t.replies = append(t.replies, Reply{Text: t.f.causeSteps(c)})
	t.ask(Feedback, c.ID, "")
}

// causeIntro is the message that introduces a cause.
func (f *Flow) causeIntro(c *kb.Cause) string {
	if ts, ok := f.texts[c.ID]; ok && f.kb.ByID[c.ID] == c {
		return ts.intro
	}
	return fill(f.kb.Msg("cause_intro"), c)
}

// causeSteps is the message that gives a cause's fix steps.
func (f *Flow) causeSteps(c *kb.Cause) string {
	if ts, ok := f.texts[c.ID]; ok && f.kb.ByID[c.ID] == c {
		return ts.steps
	}
	return stepsText(f.kb, c)
}

func stepsText(k *kb.KB, c *kb.Cause) string {
	var b strings.Builder
	b.WriteString(k.Msg("steps_intro"))
	for i, s := range c.Steps {
		fmt.Fprintf(&b, "\n%d. %s", i+1, strings.TrimSpace(s))
	}
	return b.String()
}

func (t *turn) fixed() {
	t.s.Phase = Done
	t.s.Question = ""
	t.s.Outcome = OutcomeResolved
	t.outcome = OutcomeResolved
	t.say("fixed")
}

func (t *turn) notFixed() {
	if t.s.Checklist || t.s.Cause == "" {
		t.s.Checklist = false
		t.say("exhausted")
		t.offerHuman(ReasonExhausted)
		return
	}
	t.s.Tried = append(t.s.Tried, t.s.Cause)
	delete(t.s.Belief, t.s.Cause)
	normalizeBelief(t.s.Belief)
	t.nextCause()
}

// nextCause moves on to the most likely cause not yet tried or ruled out,
// or offers a person when the likely causes are used up.
func (t *turn) nextCause() {
	done := append(slices.Clone(t.s.Tried), t.s.RuledOut...)
	id, _ := bestCause(t.s.Belief, done)
	max := t.k.Triage.MaxCauses
	if id == "" || len(t.s.Tried) >= max || len(done) >= max+2 {
		t.say("exhausted")
		t.offerHuman(ReasonExhausted)
		return
	}
	t.say("next_cause")
	t.enterCause(id, 0)
}

// offerHuman asks whether the user wants a person.
func (t *turn) offerHuman(reason string) {
	t.s.Offer = reason
	t.ask(OfferHuman, t.s.Cause, "")
}

func (t *turn) startHandoff(reason string) {
	if t.s.Phase == Handoff {
		t.say("handoff_waiting")
		return
	}
	if reason == ReasonAsked && t.s.Offer != "" && t.s.Phase == OfferHuman {
		reason = t.s.Offer
	}
	t.s.Phase = Handoff
	t.s.Question = ""
	t.s.Reason = reason
	t.s.Outcome = OutcomeHandedOff
	t.outcome = OutcomeHandedOff
	t.handoff = &Summary{
		Reason:   reason,
		Detected: slices.Clone(t.s.Detected),
		RuledOut: slices.Clone(t.s.RuledOut),
		Tried:    slices.Clone(t.s.Tried),
		Answers:  slices.Clone(t.s.Answers),
		Last:     slices.Clone(t.s.Last),
	}
	t.say("handoff")
}

func (t *turn) checklist() {
	var b strings.Builder
	b.WriteString(t.k.Msg("checklist_intro"))
	for i, it := range t.k.Checklist.Items {
		fmt.Fprintf(&b, "\n%d. %s", i+1, strings.TrimSpace(it.Text))
	}
	t.replies = append(t.replies, Reply{Text: b.String()})
	t.s.Checklist = true
	t.s.Checklisted = true
	t.s.Cause = ""
	t.ask(Feedback, "", "")
}

func (t *turn) faqMenu() {
	r := Reply{Text: t.k.Msg("faq_intro")}
	for _, q := range t.k.FAQ {
		r.Buttons = append(r.Buttons, Button{ID: faqPrefix + q.ID, Label: q.Question})
	}
	t.replies = append(t.replies, r)
}

func (t *turn) faqAnswer(id string) {
	for _, q := range t.k.FAQ {
		if q.ID == id {
			t.replies = append(t.replies, Reply{Text: q.Question + "\n" + q.Answer})
			t.reprompt()
			return
		}
	}
	t.stale = true
	t.say("stale")
	t.reprompt()
}

// ask opens a question in a phase and renders it with fresh buttons.
func (t *turn) ask(p Phase, cause, question string) {
	t.s.Phase = p
	t.s.Cause = cause
	t.s.Question = question
	t.s.Seq++
	r, _ := t.prompt()
	t.replies = append(t.replies, r)
}

// reprompt renders the open question again (same buttons).
func (t *turn) reprompt() {
	if t.s.Phase == Handoff {
		return
	}
	if r, ok := t.prompt(); ok {
		t.replies = append(t.replies, r)
	}
}

// openQuestion returns the KB question that is open, if any.
func (t *turn) openQuestion() *kb.Question {
	switch t.s.Phase {
	case Triage:
		return t.k.Triage.Question(t.s.Question)
	case Confirm:
		if c := t.k.Cause(t.s.Cause); c != nil {
			return c.Question(t.s.Question)
		}
	}
	return nil
}

// prompt renders the open question of the current phase.
func (t *turn) prompt() (Reply, bool) {
	switch t.s.Phase {
	case Triage, Confirm:
		q := t.openQuestion()
		if q == nil {
			return Reply{}, false
		}
		r := Reply{Text: q.Text}
		for _, o := range q.Options {
			r.Buttons = append(r.Buttons, Button{ID: t.qid("o." + o.ID), Label: o.Label})
		}
		return r, true
	case Feedback:
		return Reply{Text: t.k.Msg("ask_fixed"), Buttons: []Button{
			{ID: t.qid(tokFixed), Label: t.k.Msg("btn_fixed")},
			{ID: t.qid(tokNotFixed), Label: t.k.Msg("btn_not_fixed")},
			{ID: btnHuman, Label: t.k.Msg("btn_human")},
		}}, true
	case OfferHuman:
		r := Reply{Text: t.k.Msg("offer_human"), Buttons: []Button{{ID: btnHuman, Label: t.k.Msg("btn_human")}}}
		if t.s.Offer == ReasonExhausted && !t.s.Checklisted {
			r.Buttons = append(r.Buttons, Button{ID: btnChecklist, Label: t.k.Msg("btn_checklist")})
		}
		r.Buttons = append(r.Buttons, Button{ID: t.qid(tokNoHuman), Label: t.k.Msg("btn_no_thanks")})
		return r, true
	case Suggest:
		return t.suggestPrompt(), true
	}
	return Reply{}, false
}

// fill puts a cause's fields into a message template.
func fill(tmpl string, c *kb.Cause) string {
	return strings.NewReplacer("{title}", c.Title, "{explanation}", strings.TrimSpace(c.Explanation)).Replace(tmpl)
}
