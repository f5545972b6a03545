package kb

import (
	"embed"
	"io/fs"
)

// Stable cause IDs. The flows and the classifier's training data refer to
// these; the loader refuses a knowledge base that lacks any of them.
const (
	AccountRestriction  = "account_restriction"
	Network             = "network"
	AppGlitch           = "app_glitch"
	GuidelinesViolation = "guidelines_violation"
	PrivacySettings     = "privacy_settings"
	SpamFilter          = "spam_filter"
	TemporaryBan        = "temporary_ban"
	OutdatedApp         = "outdated_app"
)

// Intents other than causes. The flows branch on these.
const (
	CantSend   = "cant_send" // the complaint, no cause named
	Greet      = "greet"
	Thanks     = "thanks"
	Human      = "human" // asks for a person
	Affirm     = "affirm"
	Deny       = "deny"
	OutOfScope = "out_of_scope" // not about this at all
	Help       = "help"         // what can you do / how does this work
	StartOver  = "start_over"   // reset the conversation
)

// BaseIntents are the intents every knowledge base's training data must
// teach besides its causes.
var BaseIntents = []string{CantSend, Greet, Thanks, Human, Affirm, Deny, OutOfScope, Help, StartOver}

// CauseIDs lists the eight required causes in the article's order.
var CauseIDs = []string{
	AccountRestriction, Network, AppGlitch, GuidelinesViolation,
	PrivacySettings, SpamFilter, TemporaryBan, OutdatedApp,
}

//go:embed data
var embedded embed.FS

// Default returns the knowledge base shipped inside the binary.
func Default() (*KB, error) {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		return nil, err
	}
	return Load(sub)
}

// DefaultFS is the embedded data directory, for callers that want to read
// the raw files (for example the training examples).
func DefaultFS() fs.FS {
	sub, _ := fs.Sub(embedded, "data")
	return sub
}

// KB is a validated knowledge base.
type KB struct {
	Causes    []*Cause          // in file-name order
	ByID      map[string]*Cause // cause ID → cause
	Triage    Triage
	FAQ       []FAQ
	Checklist Checklist
	// Messages are the assistant's own phrases, keyed by name (see
	// RequiredMessages).
	Messages map[string]string
	// Training holds the labelled examples from training.jsonl.
	Training []Example
	// Eval holds the held-out evaluation examples from eval.jsonl (never
	// trained on). Optional.
	Eval []Example
	// Dev holds the development examples from dev.jsonl: never trained on,
	// used to calibrate the classifier and choose its out-of-scope threshold
	// (see brain.Train), and for error analysis. Optional.
	Dev []Example
}

// Example is one labelled line of training or evaluation data.
type Example struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
	Line   int    `json:"-"` // line in its file
}

// Cause is one reason why messages can't be sent, with what confirms it
// and how to fix it.
type Cause struct {
	ID          string     `yaml:"id"`
	Title       string     `yaml:"title"`       // short name: "Network problems"
	Summary     string     `yaml:"summary"`     // one sentence, used in lists and "did you mean"
	Explanation string     `yaml:"explanation"` // a short plain explanation
	Symptoms    []string   `yaml:"symptoms"`    // what people describe
	Prior       float64    `yaml:"prior"`       // how common the cause is (relative, > 0)
	Questions   []Question `yaml:"questions"`   // confirm or rule out; the first is asked first
	Steps       []string   `yaml:"steps"`       // ordered fix steps, saying where to tap
	// File is the file the cause was loaded from (set by the loader).
	File string `yaml:"-"`
}

// Question is a follow-up question with quick-reply options.
type Question struct {
	ID      string   `yaml:"id"`
	Text    string   `yaml:"text"`
	Options []Option `yaml:"options"`
	// FromTriage, in a cause's question, names the triage question that
	// asks the same thing: when the user already answered it with one of
	// the options listed, that answer stands for the one given here, and
	// the question is not asked again.
	FromTriage *FromTriage `yaml:"from_triage"`
}

// FromTriage maps the answers to a triage question onto a cause question's.
type FromTriage struct {
	Question string            `yaml:"question"` // the triage question's ID
	Options  map[string]string `yaml:"options"`  // triage option ID → this question's option ID
}

// Option is one answer to a question.
//
// In a triage question, Weights are likelihoods: how typical this answer is
// for each cause, relative to the others (causes not listed weigh 1). An
// option may also name a cause in Then to jump to it directly.
//
// In a cause's question, Then says where the answer leads: "fix" (give the
// fix steps), "rule_out" (this cause is not it; try the next), the ID of
// another question of the same cause, or the ID of another cause.
type Option struct {
	ID      string             `yaml:"id"`
	Label   string             `yaml:"label"`
	Reply   string             `yaml:"reply"`   // optional short acknowledgement
	Then    string             `yaml:"then"`    // see above
	Weights map[string]float64 `yaml:"weights"` // triage only
	// Match lists extra words a typed answer may use for this option
	// (the label and the ID always match).
	Match []string `yaml:"match"`
}

// Option targets in cause questions.
const (
	ThenFix     = "fix"
	ThenRuleOut = "rule_out"
)

// Triage is the set of questions asked when the cause is unknown.
type Triage struct {
	// Confident is the belief at which triage stops and names the cause.
	Confident float64 `yaml:"confident"`
	// MaxQuestions caps how many triage questions are asked.
	MaxQuestions int `yaml:"max_questions"`
	// MaxCauses caps how many causes' fix steps are tried before a human
	// is offered.
	MaxCauses int        `yaml:"max_causes"`
	Questions []Question `yaml:"questions"`
}

// FAQ is one frequently asked question.
type FAQ struct {
	ID       string `yaml:"id"`
	Question string `yaml:"question"`
	Answer   string `yaml:"answer"`
}

// Checklist is the general troubleshooting checklist.
type Checklist struct {
	Title string          `yaml:"title"`
	Items []ChecklistItem `yaml:"items"`
}

// ChecklistItem is one item of the general checklist.
type ChecklistItem struct {
	ID   string `yaml:"id"`
	Text string `yaml:"text"`
}

// Cause returns the cause with that ID, or nil.
func (k *KB) Cause(id string) *Cause { return k.ByID[id] }

// Msg returns the assistant phrase with that name.
func (k *KB) Msg(name string) string { return k.Messages[name] }

// Question returns the cause question with that ID, or nil.
func (c *Cause) Question(id string) *Question {
	for i := range c.Questions {
		if c.Questions[i].ID == id {
			return &c.Questions[i]
		}
	}
	return nil
}

// Question returns the triage question with that ID, or nil.
func (t *Triage) Question(id string) *Question {
	for i := range t.Questions {
		if t.Questions[i].ID == id {
			return &t.Questions[i]
		}
	}
	return nil
}
