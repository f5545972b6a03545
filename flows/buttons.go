package flows

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/dmdoctor/dmdoctor/kb"
)

// Button IDs. Global buttons work at any time; question buttons carry the
// question's sequence number ("12.o.yes") and are stale once it is closed.
const (
	btnHuman     = "human"
	btnFAQ       = "faq"
	btnChecklist = "checklist"
	btnRestart   = "restart"
	faqPrefix    = "faq."

	tokFixed    = "fixed"
	tokNotFixed = "notfixed"
	tokNone     = "none"
	tokNoHuman  = "nohuman"
)

// qid builds the ID of a button of the open question.
func (t *turn) qid(tok string) string { return strconv.Itoa(t.s.Seq) + "." + tok }

func (t *turn) button(id string) {
	switch {
	case id == btnHuman:
		t.startHandoff(ReasonAsked)
		return
	case id == btnFAQ:
		t.faqMenu()
		return
	case strings.HasPrefix(id, faqPrefix):
		t.faqAnswer(strings.TrimPrefix(id, faqPrefix))
		return
	case id == btnChecklist:
		t.checklist()
		return
	case id == btnRestart:
		t.reset()
		t.say("start_over")
		t.say("ask_problem")
		return
	}
	seqText, tok, ok := strings.Cut(id, ".")
	seq, err := strconv.Atoi(seqText)
	if !ok || err != nil || seq != t.s.Seq || !t.open() {
		t.stale = true
		t.say("stale")
		if t.open() || t.s.Phase == Handoff {
			t.reprompt()
		} else {
			t.say("ask_problem")
		}
		return
	}
	t.s.Misses = 0
	switch t.s.Phase {
	case Triage:
		t.triageAnswer(tok)
	case Confirm:
		t.confirmAnswer(tok)
	case Feedback:
		switch tok {
		case tokFixed:
			t.fixed()
		case tokNotFixed:
			t.notFixed()
		default:
			t.staleAnswer()
		}
	case OfferHuman:
		switch tok {
		case tokNoHuman:
			t.s.Phase = Idle
			t.s.Offer = ""
			t.say("decline_human")
		default:
			t.staleAnswer()
		}
	case Suggest:
		t.suggestAnswer(tok)
	}
}

// staleAnswer handles a well-formed ID that doesn't belong to the open
// question: treat it like a stale press.
func (t *turn) staleAnswer() {
	t.stale = true
	t.say("stale")
	t.reprompt()
}

func (t *turn) suggestAnswer(tok string) {
	t.s.Suggest = nil
	t.s.Phase = Idle
	if tok == tokNone {
		t.say("rephrase")
		return
	}
	id, ok := strings.CutPrefix(tok, "c.")
	switch {
	case !ok:
		t.staleAnswer()
	case id == kb.Human:
		t.startHandoff(ReasonAsked)
	case t.isCause(id):
		t.enterCause(id, 0)
	default:
		t.startTriage()
	}
}

// options returns the buttons of the open question.
func (t *turn) options() []Button {
	r, ok := t.prompt()
	if !ok {
		return nil
	}
	return r.Buttons
}

// matchOption maps typed text to a button of the open question: its
// number, its ID, its label, a match word, or yes/no said in words.
func (t *turn) matchOption(text string) (string, bool) {
	buttons := t.options()
	if len(buttons) == 0 {
		return "", false
	}
	norm := normalize(text)
	if n, err := strconv.Atoi(norm); err == nil && n >= 1 && n <= len(buttons) {
		return buttons[n-1].ID, true
	}
	for _, b := range buttons {
		if norm == t.f.normalized(b.Label) || norm == t.f.normalized(tokenOf(b.ID)) {
			return b.ID, true
		}
	}
	// A cause named with confidence during triage is a better answer than
	// a word that happens to match an option ("yeah i got banned
	// yesterday" names the ban itself), unless the option leads to that
	// very cause ("yes works on data" answers "does it work on the other
	// network?" and names the network).
	named := ""
	if t.s.Phase == Triage && t.accepted() && t.isCause(t.in.NLU.Intent) {
		named = t.in.NLU.Intent
	}
	if q := t.openQuestion(); q != nil {
		for _, o := range q.Options {
			if named != "" && o.Then != named {
				continue
			}
			for _, m := range o.Match {
				if m = t.f.normalized(m); m != "" && containsWords(norm, m) {
					return t.qid("o." + o.ID), true
				}
			}
		}
	}
	// Yes and no, as the classifier reads them.
	if t.accepted() {
		switch t.in.NLU.Intent {
		case kb.Affirm:
			return t.yesNo(true)
		case kb.Deny:
			return t.yesNo(false)
		}
	}
	return "", false
}

// yesNo finds the open question's yes or no answer.
func (t *turn) yesNo(yes bool) (string, bool) {
	switch t.s.Phase {
	case Feedback:
		if yes {
			return t.qid(tokFixed), true
		}
		return t.qid(tokNotFixed), true
	case OfferHuman:
		if yes {
			return btnHuman, true
		}
		return t.qid(tokNoHuman), true
	case Suggest:
		if yes && len(t.s.Suggest) == 1 {
			return t.qid("c." + t.s.Suggest[0]), true
		}
		if !yes {
			return t.qid(tokNone), true
		}
	case Triage, Confirm:
		tok := "o.no"
		if yes {
			tok = "o.yes"
		}
		if findOption(t.openQuestion(), tok) != nil {
			return t.qid(tok), true
		}
	}
	return "", false
}

// tokenOf returns the last part of a button ID ("12.o.not_sure" → "not_sure").
func tokenOf(id string) string {
	if i := strings.LastIndexByte(id, '.'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// normalize lower-cases text and keeps letters and digits, single-spaced.
func normalize(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		} else {
			space = true
		}
	}
	return b.String()
}

// containsWords reports whether phrase occurs in text on word boundaries.
func containsWords(text, phrase string) bool {
	return strings.Contains(" "+text+" ", " "+phrase+" ")
}
