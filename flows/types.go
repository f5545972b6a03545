package flows

// Phase is where a conversation stands.
type Phase string

// The phases of a conversation.
const (
	Idle       Phase = "idle"        // nothing asked; the next message starts afresh
	Triage     Phase = "triage"      // a triage question (State.Question) is open
	Confirm    Phase = "confirm"     // a question of State.Cause is open
	Feedback   Phase = "feedback"    // fix steps given; "did that fix it?" is open
	OfferHuman Phase = "offer_human" // "would you like a person?" is open
	Suggest    Phase = "suggest"     // "did you mean …?" is open
	Handoff    Phase = "handoff"     // handed to a human; the assistant stays quiet
	Done       Phase = "done"        // resolved; the next message starts afresh
)

// Outcomes recorded when a conversation ends.
const (
	OutcomeResolved  = "resolved"   // fixed by the assistant's steps
	OutcomeHandedOff = "handed_off" // handed to a human
)

// Hand-off reasons.
const (
	ReasonAsked         = "asked"          // the user asked for a person
	ReasonExhausted     = "exhausted"      // the likely causes were tried
	ReasonNotUnderstood = "not_understood" // repeated misunderstandings
)

// Commands that channels translate their own syntax into (/help, the
// slash commands and so on).
const (
	CmdStart        = "start"
	CmdHelp         = "help"
	CmdTroubleshoot = "troubleshoot"
	CmdHuman        = "human"
	CmdCancel       = "cancel"
	// CmdForget deletes everything kept about the user (handled by the
	// engine, which owns the store).
	CmdForget = "forget"
	// StartContinue is the text of a start command that continues the
	// conversation instead of starting a new one (a deep link's payload).
	StartContinue = "continue"
)

// State is everything flows remembers about one conversation. It is plain
// data: the engine stores it as JSON between turns.
type State struct {
	Phase Phase `json:"phase"`
	// Seq numbers the questions asked; buttons of a question carry it, so
	// a press on an older question's button is recognised as stale.
	Seq      int                `json:"seq"`
	Question string             `json:"question,omitempty"` // open question ID
	Cause    string             `json:"cause,omitempty"`    // cause in focus
	Belief   map[string]float64 `json:"belief,omitempty"`   // cause → probability
	Asked    []string           `json:"asked,omitempty"`    // triage questions asked
	Detected []string           `json:"detected,omitempty"` // causes considered, in order
	Tried    []string           `json:"tried,omitempty"`    // fix steps given, did not help
	RuledOut []string           `json:"ruled_out,omitempty"`
	Answers  []Answer           `json:"answers,omitempty"`
	Suggest  []string           `json:"suggest,omitempty"` // did-you-mean candidates
	Misses   int                `json:"misses,omitempty"`  // misunderstandings in a row
	// Checklist is set while the general checklist is the "fix" in focus.
	Checklist bool `json:"checklist,omitempty"`
	// Checklisted is set once the general checklist has been shown.
	Checklisted bool `json:"checklisted,omitempty"`
	// Offer says why a person is being offered (a Reason* constant).
	Offer   string   `json:"offer,omitempty"`
	Outcome string   `json:"outcome,omitempty"`
	Reason  string   `json:"reason,omitempty"` // hand-off reason
	Last    []string `json:"last,omitempty"`   // the user's last messages
	Turns   int      `json:"turns"`
	// Welcomed is set once the welcome was said in this conversation, so
	// that a greeting after it is not answered with the whole welcome again.
	Welcomed bool `json:"welcomed,omitempty"`
}

// Answer is one answer the user gave to a question.
type Answer struct {
	Question string `json:"question"`
	Option   string `json:"option,omitempty"`
	Text     string `json:"text"` // the option's label, or what the user typed
}

// Input is one user turn, as the engine hands it to Step.
type Input struct {
	Text    string // what the user wrote (already bounded and valid UTF-8)
	Button  string // ID of a pressed quick-reply button, if any
	Command string // a Cmd* constant, if the channel recognised a command
	NonText bool   // a sticker, photo, voice message…
	NLU     NLU    // the classifier's reading of Text
}

// NLU is the classifier's reading of a text.
type NLU struct {
	Intent     string  // best intent, or out_of_scope
	Confidence float64 // of the best in-scope intent
	Ranked     []Guess // in-scope alternatives, best first
}

// Guess is one ranked intent.
type Guess struct {
	Intent     string
	Confidence float64
}

// Reply is one message to the user: text plus optional quick replies.
// Replies are channel-neutral; channels draw buttons their own way.
type Reply struct {
	Text    string   `json:"text"`
	Buttons []Button `json:"buttons,omitempty"`
	// Private is set on replies to a press on a closed question: channels
	// that can (Discord's ephemeral messages) show them to the user only.
	Private bool `json:"private,omitempty"`
}

// Button is a quick reply: an ID for the machine and a label for people.
// IDs are at most 64 bytes, so they fit Telegram's callback_data.
type Button struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Output is the result of one Step.
type Output struct {
	State   State
	Replies []Reply
	// Handoff is set on the turn a conversation is handed to a human.
	Handoff *Summary
	// Stale is set when the input was a press on a closed question.
	Stale bool
	// Outcome is set on the turn a conversation ends (Outcome* constant).
	Outcome string
}

// Summary is what a human moderator needs to take a conversation over.
type Summary struct {
	Reason   string   `json:"reason"`
	Detected []string `json:"detected,omitempty"`
	RuledOut []string `json:"ruled_out,omitempty"`
	Tried    []string `json:"tried,omitempty"`
	Answers  []Answer `json:"answers,omitempty"`
	Last     []string `json:"last,omitempty"`
}
