package flows_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/kb/kbtest"
)

// conv drives a flow turn by turn, like a user would.
type conv struct {
	t    *testing.T
	f    *flows.Flow
	s    flows.State
	last flows.Output
}

func newConv(t *testing.T) *conv {
	return &conv{t: t, f: flows.New(kbtest.Load(t), flows.Config{})}
}

func (c *conv) step(in flows.Input) flows.Output {
	c.t.Helper()
	c.last = c.f.Step(c.s, in)
	c.s = c.last.State
	if len(c.last.Replies) == 0 && c.s.Phase != flows.Handoff {
		c.t.Fatalf("turn %+v gave no reply", in)
	}
	return c.last
}

func (c *conv) say(intent string, conf float64, text string) flows.Output {
	c.t.Helper()
	return c.step(flows.Input{Text: text, NLU: flows.NLU{Intent: intent, Confidence: conf}})
}

// press presses the button with that label in the last turn's replies.
func (c *conv) press(label string) flows.Output {
	c.t.Helper()
	for _, r := range c.last.Replies {
		for _, b := range r.Buttons {
			if b.Label == label {
				return c.step(flows.Input{Button: b.ID})
			}
		}
	}
	c.t.Fatalf("no button %q in %+v", label, c.last.Replies)
	return flows.Output{}
}

func (c *conv) expect(phase flows.Phase, cause string, texts ...string) {
	c.t.Helper()
	if c.s.Phase != phase || c.s.Cause != cause {
		c.t.Fatalf("state = %s/%q, want %s/%q; replies %q", c.s.Phase, c.s.Cause, phase, cause, texts2(c.last))
	}
	all := texts2(c.last)
	for _, want := range texts {
		if !strings.Contains(all, want) {
			c.t.Fatalf("replies %q lack %q", all, want)
		}
	}
}

func texts2(o flows.Output) string {
	var b strings.Builder
	for _, r := range o.Replies {
		b.WriteString(r.Text + "|")
	}
	return b.String()
}

func TestTriageToCauseToResolved(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "tiktok wont let me dm")
	c.expect(flows.Triage, "", "<triage_intro>", "What does the error say?")
	c.press("Failed to send")
	// network (prior 2, likelihood 4) leads; the network question splits it.
	c.expect(flows.Triage, "", "Does it work on another network?")
	c.press("Yes")
	c.expect(flows.Confirm, kb.Network, "<cause_intro Title of network>", "Is it network?")
	c.press("Yes")
	c.expect(flows.Feedback, kb.Network, "1. Step one for network", "2. Step two for network", "<ask_fixed>")
	out := c.press("<btn_fixed>")
	c.expect(flows.Done, kb.Network, "<fixed>")
	if out.Outcome != flows.OutcomeResolved {
		t.Fatalf("outcome %q, want resolved", out.Outcome)
	}
	if got := c.s.Answers; len(got) != 3 || got[0].Option != "failed" || got[1].Option != "yes" {
		t.Fatalf("answers %+v", got)
	}
}

func TestTriageThenJumpsAndSkipsConfirm(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant send")
	c.press("Banned")
	c.expect(flows.Feedback, kb.TemporaryBan, "Step one for temporary_ban")
}

func TestNamedCauseConfidence(t *testing.T) {
	c := newConv(t)
	c.say(kb.SpamFilter, 0.95, "it says im sending too fast")
	c.expect(flows.Feedback, kb.SpamFilter, "<cause_intro Title of spam_filter>", "Step one for spam_filter")

	c = newConv(t)
	c.say(kb.SpamFilter, 0.6, "maybe spam")
	c.expect(flows.Confirm, kb.SpamFilter, "Is it spam_filter?")
}

func TestRuleOutThenNotFixedThenExhaustedThenHuman(t *testing.T) {
	c := newConv(t)
	c.say(kb.AppGlitch, 0.6, "app is weird")
	c.press("No") // rules out app_glitch
	c.expect(flows.Confirm, kb.Network, "<next_cause>", "Is it network?")
	c.press("Yes")
	c.press("<btn_not_fixed>") // tried 1
	if c.s.Phase != flows.Confirm || c.s.Cause == kb.Network || c.s.Cause == kb.AppGlitch {
		t.Fatalf("after not fixed: %s/%s", c.s.Phase, c.s.Cause)
	}
	second := c.s.Cause
	c.press("Yes")
	c.press("<btn_not_fixed>") // tried 2 = max_causes
	c.expect(flows.OfferHuman, second, "<exhausted>", "<offer_human>")
	out := c.press("<btn_human>")
	c.expect(flows.Handoff, second, "<handoff>")
	want := &flows.Summary{Reason: flows.ReasonExhausted, Detected: []string{kb.AppGlitch, kb.Network, second},
		RuledOut: []string{kb.AppGlitch}, Tried: []string{kb.Network, second}, Answers: c.s.Answers, Last: []string{"app is weird"}}
	if !reflect.DeepEqual(out.Handoff, want) {
		t.Fatalf("hand-off summary\n got %+v\nwant %+v", out.Handoff, want)
	}
	if out.Outcome != flows.OutcomeHandedOff {
		t.Fatalf("outcome %q", out.Outcome)
	}
	// While handed off, the assistant only says a person is coming.
	c.say(kb.CantSend, 0.9, "hello??")
	c.expect(flows.Handoff, second, "<handoff_waiting>")
}

func TestChecklistFromOffer(t *testing.T) {
	c := newConv(t)
	c.say(kb.OutdatedApp, 0.95, "old app")
	c.press("<btn_not_fixed>")
	c.say(kb.Network, 0.95, "wifi maybe") // a named cause while a question is open
	c.press("<btn_not_fixed>")
	c.expect(flows.OfferHuman, kb.Network, "<offer_human>")
	c.press("<btn_checklist>")
	c.expect(flows.Feedback, "", "1. Check the network.", "2. Update the app.")
	c.press("<btn_not_fixed>")
	c.expect(flows.OfferHuman, "", "<exhausted>")
	for _, r := range c.last.Replies {
		for _, b := range r.Buttons {
			if b.Label == "<btn_checklist>" {
				t.Fatal("checklist offered again after it was tried")
			}
		}
	}
	c.press("<btn_no_thanks>")
	c.expect(flows.Idle, "", "<decline_human>")
}

func TestStaleButton(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant dm")
	var old string
	for _, b := range c.last.Replies[len(c.last.Replies)-1].Buttons {
		if b.Label == "No error" {
			old = b.ID
		}
	}
	c.press("Failed to send")
	out := c.step(flows.Input{Button: old})
	if !out.Stale {
		t.Fatal("press on a closed question not marked stale")
	}
	for _, r := range out.Replies {
		if !r.Private {
			t.Fatalf("reply to a stale press not private: %+v", r)
		}
	}
	c.expect(flows.Triage, "", "<stale>", "Does it work on another network?")
	if len(c.s.Answers) != 1 {
		t.Fatalf("a stale press was recorded as an answer: %+v", c.s.Answers)
	}
	// Garbage and foreign IDs are stale too, never a panic.
	for _, id := range []string{"x", "99.o.yes", "1.o.", ".", "faq.nope", strings.Repeat("9", 40) + ".o.yes"} {
		c.step(flows.Input{Button: id})
	}
}

func TestTypedAnswers(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant dm")
	c.say(kb.OutOfScope, 0.1, "3") // by number: "Failed to send"
	c.expect(flows.Triage, "", "Does it work on another network?")
	c.say(kb.Affirm, 0.9, "yeah it does") // yes/no in words
	c.expect(flows.Confirm, kb.Network, "Is it network?")
	c.say(kb.OutOfScope, 0.2, "it keeps CRASHING... crash!") // a match word of "Maybe the app"
	c.expect(flows.Feedback, kb.AppGlitch, "Step one for app_glitch")
	if len(c.s.RuledOut) != 1 || c.s.RuledOut[0] != kb.Network {
		t.Fatalf("ruled out %v, want [network]", c.s.RuledOut)
	}
	c.say(kb.Deny, 0.9, "nope still broken") // "did that fix it?" no
	if c.s.Phase != flows.Confirm || len(c.s.Tried) != 1 {
		t.Fatalf("typed no didn't move on: %s tried %v", c.s.Phase, c.s.Tried)
	}

	c = newConv(t)
	c.say(kb.CantSend, 0.9, "cant dm")
	c.say(kb.OutOfScope, 0.1, "no ERROR") // the label itself, any case
	if len(c.s.Answers) != 1 || c.s.Answers[0].Option != "none" {
		t.Fatalf("label not matched: %+v", c.s.Answers)
	}
	c.say(kb.OutOfScope, 0.1, "7") // out of range: asked again
	c.expect(flows.Triage, "", "<pick_option>")
}

func TestFreeTextNamesCauseDuringTriage(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "i cant send messages")
	c.say(kb.TemporaryBan, 0.93, "yeah i got banned yesterday")
	c.expect(flows.Feedback, kb.TemporaryBan, "Step one for temporary_ban")
	if a := c.s.Answers; len(a) != 1 || a[0].Text != "yeah i got banned yesterday" {
		t.Fatalf("free-text answer not recorded: %+v", a)
	}
}

func TestMissesOfferHuman(t *testing.T) {
	c := newConv(t)
	c.say(kb.OutOfScope, 0.2, "what's the weather")
	c.expect(flows.Idle, "", "<out_of_scope>")
	c.say(kb.OutOfScope, 0.1, "asdfgh")
	c.expect(flows.OfferHuman, "", "<missed_twice>", "<offer_human>")
	out := c.say(kb.Affirm, 0.9, "yes please")
	c.expect(flows.Handoff, "")
	if out.Handoff == nil || out.Handoff.Reason != flows.ReasonNotUnderstood {
		t.Fatalf("hand-off %+v, want reason not_understood", out.Handoff)
	}
}

// TestClearComplaintAfterMisses: after two misses the assistant offers a
// person, but a clear complaint then starts the troubleshooting instead of
// asking for a button; so does one in answer to "did you mean …?".
func TestClearComplaintAfterMisses(t *testing.T) {
	c := newConv(t)
	c.say(kb.OutOfScope, 0.2, "what's the weather")
	c.say(kb.OutOfScope, 0.1, "asdfgh")
	c.expect(flows.OfferHuman, "", "<missed_twice>", "<offer_human>")
	c.say(kb.CantSend, 0.95, "i cant send dms on tiktok")
	c.expect(flows.Triage, "", "<triage_intro>", "What does the error say?")

	c = newConv(t)
	c.step(flows.Input{Text: "hmm messages thing", NLU: flows.NLU{Intent: kb.Network, Confidence: 0.35,
		Ranked: []flows.Guess{{Intent: kb.Network, Confidence: 0.35}, {Intent: kb.Greet, Confidence: 0.3}}}})
	c.expect(flows.Suggest, "", "<did_you_mean>")
	c.say(kb.CantSend, 0.95, "my messages just wont send")
	c.expect(flows.Triage, "", "<triage_intro>", "What does the error say?")

	// Offered a person because every likely cause was tried, the same
	// complaint again does not start over.
	c = newConv(t)
	c.say(kb.CantSend, 0.9, "cant send")
	for i := 0; c.s.Phase != flows.OfferHuman; i++ {
		if i == 50 {
			t.Fatalf("no offer of a person after %d presses: phase %s", i, c.s.Phase)
		}
		if c.s.Phase == flows.Feedback {
			c.press("<btn_not_fixed>")
			continue
		}
		c.press(c.last.Replies[len(c.last.Replies)-1].Buttons[0].Label)
	}
	if c.s.Offer != flows.ReasonExhausted {
		t.Fatalf("offer reason %q, want %q", c.s.Offer, flows.ReasonExhausted)
	}
	c.say(kb.CantSend, 0.95, "it still wont send")
	c.expect(flows.OfferHuman, c.s.Cause, "<pick_option>", "<offer_human>")
}

func TestDidYouMean(t *testing.T) {
	c := newConv(t)
	c.step(flows.Input{Text: "hmm messages thing", NLU: flows.NLU{Intent: kb.Network, Confidence: 0.35,
		Ranked: []flows.Guess{{Intent: kb.Network, Confidence: 0.35}, {Intent: kb.Greet, Confidence: 0.3}, {Intent: kb.CantSend, Confidence: 0.2}}}})
	c.expect(flows.Suggest, "", "<did_you_mean>")
	var labels []string
	for _, b := range c.last.Replies[0].Buttons {
		labels = append(labels, b.Label)
	}
	if want := []string{"Title of network", "<btn_cant_send>", "<btn_none>"}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("suggestions %q, want %q", labels, want)
	}
	c.press("<btn_cant_send>")
	c.expect(flows.Triage, "", "<triage_intro>")

	c = newConv(t)
	c.step(flows.Input{Text: "hmm", NLU: flows.NLU{Intent: kb.Network, Confidence: 0.35,
		Ranked: []flows.Guess{{Intent: kb.Network, Confidence: 0.35}}}})
	c.press("<btn_none>")
	c.expect(flows.Idle, "", "<rephrase>")
}

func TestHumanAtAnyTime(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant dm")
	out := c.say(kb.Human, 0.8, "let me talk to a real person")
	c.expect(flows.Handoff, "", "<handoff>")
	if out.Handoff.Reason != flows.ReasonAsked || out.Handoff.Last[1] != "let me talk to a real person" {
		t.Fatalf("hand-off %+v", out.Handoff)
	}
	c.step(flows.Input{Command: flows.CmdCancel})
	c.expect(flows.Idle, "", "<start_over>")
}

func TestOddInputs(t *testing.T) {
	c := newConv(t)
	c.step(flows.Input{Text: "   "})
	c.expect(flows.Idle, "", "<empty>")
	c.step(flows.Input{NonText: true})
	c.expect(flows.Idle, "", "<not_text>")
	c.say(kb.CantSend, 0.9, "cant dm")
	c.step(flows.Input{Text: ""})
	c.expect(flows.Triage, "", "<pick_option>", "What does the error say?")
	c.step(flows.Input{NonText: true})
	c.expect(flows.Triage, "", "<not_text>", "What does the error say?")
}

func TestCommands(t *testing.T) {
	c := newConv(t)
	c.step(flows.Input{Command: flows.CmdStart})
	c.expect(flows.Idle, "", "<welcome>")
	c.step(flows.Input{Command: flows.CmdHelp})
	c.expect(flows.Idle, "", "<help>")
	c.press("<btn_faq>")
	c.press("What are the main reasons?")
	c.expect(flows.Idle, "", "Eight of them.")
	c.step(flows.Input{Command: flows.CmdTroubleshoot})
	c.expect(flows.Triage, "", "<triage_intro>")
	c.step(flows.Input{Command: flows.CmdHelp}) // help keeps the open question
	c.expect(flows.Triage, "", "<help>", "What does the error say?")
	c.step(flows.Input{Command: flows.CmdTroubleshoot, Text: "banned", NLU: flows.NLU{Intent: kb.TemporaryBan, Confidence: 0.9}})
	c.expect(flows.Feedback, kb.TemporaryBan)
	c.step(flows.Input{Command: flows.CmdHuman})
	c.expect(flows.Handoff, kb.TemporaryBan, "<handoff>")
}

func TestGreetThanksStartOver(t *testing.T) {
	c := newConv(t)
	c.say(kb.Greet, 0.9, "hi")
	c.expect(flows.Idle, "", "<welcome>")
	c.say(kb.CantSend, 0.9, "cant dm")
	c.say(kb.StartOver, 0.9, "start over")
	c.expect(flows.Idle, "", "<start_over>", "<ask_problem>")
	c.say(kb.Thanks, 0.9, "thanks")
	c.expect(flows.Idle, "", "<thanks>")
}

func TestStepDoesNotMutateItsInput(t *testing.T) {
	f := flows.New(kbtest.Load(t), flows.Config{})
	o := f.Step(flows.State{}, flows.Input{Text: "x", NLU: flows.NLU{Intent: kb.CantSend, Confidence: 0.9}})
	before := o.State
	snapshot := before.Belief[kb.Network]
	f.Step(before, flows.Input{Button: o.Replies[len(o.Replies)-1].Buttons[2].ID})
	if before.Belief[kb.Network] != snapshot || len(before.Answers) != 0 {
		t.Fatal("Step changed the state it was given")
	}
}

func TestButtonIDsFitTelegram(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant dm")
	for _, r := range c.last.Replies {
		for _, b := range r.Buttons {
			if len(b.ID) > 64 {
				t.Fatalf("button ID %q is %d bytes", b.ID, len(b.ID))
			}
		}
	}
}

func TestStartContinueKeepsTheConversation(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant dm")
	c.step(flows.Input{Command: flows.CmdStart, Text: "continue"})
	c.expect(flows.Triage, "", "<continue>", "What does the error say?")
	c.step(flows.Input{Command: flows.CmdStart})
	c.expect(flows.Idle, "", "<welcome>")
}

func TestYesPlusACauseNamesTheCause(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "i cant send messages")
	c.step(flows.Input{Text: "yeah i got banned yesterday", NLU: flows.NLU{Intent: kb.Affirm, Confidence: 0.53,
		Ranked: []flows.Guess{{Intent: kb.Affirm, Confidence: 0.53}, {Intent: kb.TemporaryBan, Confidence: 0.46}}}})
	c.expect(flows.Feedback, kb.TemporaryBan, "Step one for temporary_ban")

	// A yes about the cause in focus is an answer, not a new cause.
	c = newConv(t)
	c.say(kb.Network, 0.6, "wifi?")
	c.step(flows.Input{Text: "yes my wifi", NLU: flows.NLU{Intent: kb.Affirm, Confidence: 0.6,
		Ranked: []flows.Guess{{Intent: kb.Affirm, Confidence: 0.6}, {Intent: kb.Network, Confidence: 0.39}}}})
	c.expect(flows.Feedback, kb.Network, "Step one for network")
	// A weak second reading doesn't count.
	c = newConv(t)
	c.say(kb.CantSend, 0.9, "i cant send messages")
	c.step(flows.Input{Text: "yes", NLU: flows.NLU{Intent: kb.Affirm, Confidence: 0.9,
		Ranked: []flows.Guess{{Intent: kb.Affirm, Confidence: 0.9}, {Intent: kb.TemporaryBan, Confidence: 0.05}}}})
	c.expect(flows.Triage, "", "<pick_option>")
}

// TestFocusOnCause: once a cause's steps are given, a message is read in
// their light. A question the words alone would put under another cause,
// but that reads as the cause in focus at a quarter of that confidence, is
// answered with what we know of the cause, and "did that fix it?" stays
// open; the same reading as a statement means it is not fixed; a clear
// other cause still takes over.
func TestFocusOnCause(t *testing.T) {
	feedback := func() *conv {
		c := newConv(t)
		c.say(kb.TemporaryBan, 0.95, "i got banned")
		c.expect(flows.Feedback, kb.TemporaryBan, "Step one for temporary_ban")
		return c
	}
	leaning := func(text string) flows.Input {
		return flows.Input{Text: text, NLU: flows.NLU{Intent: kb.SpamFilter, Confidence: 0.6, Ranked: []flows.Guess{
			{Intent: kb.SpamFilter, Confidence: 0.6}, {Intent: kb.TemporaryBan, Confidence: 0.2}}}}
	}

	c := feedback()
	c.step(leaning("how long does it last"))
	c.expect(flows.Feedback, kb.TemporaryBan, "<cause_intro Title of temporary_ban>", "<ask_fixed>")
	if strings.Contains(texts2(c.last), "spam_filter") {
		t.Fatalf("a question about the ban went to the spam filter: %q", texts2(c.last))
	}

	c = feedback()
	c.step(leaning("still cant send anything, the limit is still there"))
	if !strings.Contains(texts2(c.last), "<next_cause>") || c.s.Cause == kb.TemporaryBan || len(c.s.Tried) != 1 || c.s.Tried[0] != kb.TemporaryBan {
		t.Fatalf("a statement about the ban in focus did not count as not fixed: %s/%q tried %q, %q", c.s.Phase, c.s.Cause, c.s.Tried, texts2(c.last))
	}

	c = feedback()
	c.step(flows.Input{Text: "could it be my wifi?", NLU: flows.NLU{Intent: kb.Network, Confidence: 0.9, Ranked: []flows.Guess{
		{Intent: kb.Network, Confidence: 0.9}, {Intent: kb.TemporaryBan, Confidence: 0.05}}}})
	if c.s.Cause != kb.Network {
		t.Fatalf("a clear other cause did not take over: %s/%q %q", c.s.Phase, c.s.Cause, texts2(c.last))
	}

	// Without a cause in focus, the words alone decide.
	c = newConv(t)
	c.step(leaning("how long does it last"))
	if c.s.Cause != kb.SpamFilter {
		t.Fatalf("with nothing in focus: %s/%q, want the spam filter", c.s.Phase, c.s.Cause)
	}
}

func TestIsQuestion(t *testing.T) {
	for text, want := range map[string]bool{
		"how long does it last": true, "When can I message again": true, "it lasts forever?": true,
		"is it permanent": true, "Whats next?": true, "  does it end by itself  ": true,
		"still banned": false, "i waited a day": false, "": false, "how": true, "showing an error": false,
	} {
		if got := flows.IsQuestion(text); got != want {
			t.Errorf("IsQuestion(%q) = %v, want %v", text, got, want)
		}
	}
}

// TestTriageOptionLeadingToTheNamedCause: during triage, typed words that
// match an option leading to the very cause they name answer the question
// (the cause's steps come at once, without a confirming question); words
// naming another cause still win over an option they happen to match.
func TestTriageOptionLeadingToTheNamedCause(t *testing.T) {
	c := newConv(t)
	c.say(kb.CantSend, 0.9, "cant send")
	c.expect(flows.Triage, "", "What does the error say?")
	c.say(kb.TemporaryBan, 0.7, "it says banned")
	c.expect(flows.Feedback, kb.TemporaryBan, "Step one for temporary_ban")
	if a := c.s.Answers; len(a) != 1 || a[0].Option != "banned" {
		t.Fatalf("answers %+v, want the option banned", a)
	}

	c = newConv(t)
	c.say(kb.CantSend, 0.9, "cant send")
	c.say(kb.Network, 0.7, "it says banned but i think its my wifi")
	c.expect(flows.Confirm, kb.Network, "Is it network?")
}

// TestFromTriage: a cause's question that the triage already asked
// (from_triage) is not asked again; the triage answer stands for it, and an
// answer it does not map is asked about.
func TestFromTriage(t *testing.T) {
	fsys := kbtest.FS()
	f := fsys["causes/app_glitch.yaml"]
	f.Data = []byte(strings.Replace(string(f.Data), "    text: Is it app_glitch?\n",
		"    text: Is it app_glitch?\n    from_triage: {question: other_network, options: {\"no\": \"yes\"}}\n", 1))
	k, err := kb.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	// Triage asks the error, then the other network; after "Failed to
	// send" and anything but yes, the app glitch comes next.
	upToGlitch := func(answer string) *conv {
		c := &conv{t: t, f: flows.New(k, flows.Config{})}
		c.say(kb.CantSend, 0.9, "cant send")
		c.press("Failed to send")
		c.expect(flows.Triage, "", "Does it work on another network?")
		c.press(answer)
		return c
	}

	// "No" stands for the app glitch question's "yes": the steps at once.
	c := upToGlitch("No")
	c.expect(flows.Feedback, kb.AppGlitch, "<cause_intro Title of app_glitch>", "Step one for app_glitch")
	if strings.Contains(texts2(c.last), "Is it app_glitch?") {
		t.Fatalf("the question was asked again: %q", texts2(c.last))
	}
	if a := c.s.Answers; len(a) != 3 || a[2].Question != "check" || a[2].Option != "yes" {
		t.Fatalf("answers %+v: want the app glitch question answered yes from the triage", a)
	}

	// "Not sure" is not mapped: the question is asked.
	c = upToGlitch("Not sure")
	c.expect(flows.Confirm, kb.AppGlitch, "Is it app_glitch?")
}

// TestGreetingAfterWelcome: a "hi" right after /start is not answered with
// the whole welcome again, only with the question; after starting over,
// the welcome comes again.
func TestGreetingAfterWelcome(t *testing.T) {
	c := newConv(t)
	c.step(flows.Input{Command: flows.CmdStart})
	c.expect(flows.Idle, "", "<welcome>")
	c.say(kb.Greet, 0.95, "hi")
	c.expect(flows.Idle, "", "<ask_problem>")
	if strings.Contains(texts2(c.last), "<welcome>") {
		t.Fatalf("welcomed twice: %q", texts2(c.last))
	}

	c = newConv(t)
	c.say(kb.Greet, 0.95, "hello")
	c.expect(flows.Idle, "", "<welcome>")
	c.say(kb.StartOver, 0.95, "start over")
	c.say(kb.Greet, 0.95, "hi again")
	c.expect(flows.Idle, "", "<welcome>")
}
