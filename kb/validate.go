package kb

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits that keep the data usable on every channel: Telegram's
// callback_data is 64 bytes and a Discord button label 80 characters.
const (
	MaxLabel         = 40
	MinExamples      = 8 // training lines per intent, at least
	defaultConfident = 0.6
	defaultMaxAsk    = 4
	defaultMaxCauses = 3
)

func (l *loader) validate(k *KB) {
	for _, id := range CauseIDs {
		if k.ByID[id] == nil {
			l.add(CausesDir, "", "required cause %q is missing", id)
		}
	}
	for _, c := range k.Causes {
		l.validateCause(k, c)
	}
	l.validateTriage(k)
	l.validateFAQ(k)
	l.validateChecklist(k)
	l.validateMessages(k)
	l.validateExamples(k, TrainingFile, k.Training, true)
	l.validateExamples(k, EvalFile, k.Eval, false)
	l.validateExamples(k, DevFile, k.Dev, false)
}

func (l *loader) validateCause(k *KB, c *Cause) {
	f := c.File
	switch {
	case c.ID == "":
		l.add(f, "id", "is missing")
	case !idPattern.MatchString(c.ID):
		l.add(f, "id", "%q must be lower-case letters, digits and _ (at most 32)", c.ID)
	case isIntent(c.ID):
		l.add(f, "id", "%q is reserved for an intent", c.ID)
	}
	l.text(f, "title", c.Title)
	l.text(f, "summary", c.Summary)
	l.text(f, "explanation", c.Explanation)
	if c.Prior == 0 {
		c.Prior = 1
	} else if c.Prior < 0 {
		l.add(f, "prior", "must be greater than 0")
	}
	if len(c.Steps) == 0 {
		l.add(f, "steps", "cause %q has no fix steps", c.ID)
	}
	for i, s := range c.Steps {
		l.text(f, fmt.Sprintf("steps[%d]", i), s)
	}
	for i, s := range c.Symptoms {
		l.text(f, fmt.Sprintf("symptoms[%d]", i), s)
	}
	seen := map[string]bool{}
	for qi, q := range c.Questions {
		field := fmt.Sprintf("questions[%d]", qi)
		l.question(f, field, q, seen)
		l.fromTriage(k, f, field+".from_triage", q)
		for oi, o := range q.Options {
			of := fmt.Sprintf("%s.options[%d]", field, oi)
			if len(o.Weights) > 0 {
				l.add(f, of+".weights", "weights belong to triage questions; use then")
			}
			switch {
			case o.Then == "":
				l.add(f, of+".then", "answer %q leads nowhere: set then to fix, rule_out, a question or a cause", o.ID)
			case o.Then == ThenFix || o.Then == ThenRuleOut:
			case c.Question(o.Then) != nil:
				if o.Then == q.ID {
					l.add(f, of+".then", "answer %q leads back to its own question", o.ID)
				}
			case o.Then == c.ID:
				l.add(f, of+".then", "answer %q leads back to its own cause", o.ID)
			case k.ByID[o.Then] != nil:
			default:
				l.add(f, of+".then", "unknown target %q (not fix, rule_out, a question of this cause or a cause ID)", o.Then)
			}
		}
	}
	// A chain of questions must end somewhere: no cycles.
	for qi, q := range c.Questions {
		if cycle(c, q.ID) {
			l.add(f, fmt.Sprintf("questions[%d]", qi), "question %q can lead back to itself; its answers lead nowhere", q.ID)
		}
	}
}

// fromTriage checks a cause question's from_triage: a triage question
// whose options map onto this question's.
func (l *loader) fromTriage(k *KB, f, field string, q Question) {
	ft := q.FromTriage
	if ft == nil {
		return
	}
	tq := k.Triage.Question(ft.Question)
	switch {
	case ft.Question == "":
		l.add(f, field+".question", "is missing")
		return
	case tq == nil:
		l.add(f, field+".question", "unknown triage question %q", ft.Question)
		return
	case len(ft.Options) == 0:
		l.add(f, field+".options", "map at least one answer of triage question %q to an answer here", ft.Question)
	}
	for _, from := range slices.Sorted(maps.Keys(ft.Options)) {
		to := ft.Options[from]
		if !slices.ContainsFunc(tq.Options, func(o Option) bool { return o.ID == from }) {
			l.add(f, field+".options."+from, "triage question %q has no answer %q", ft.Question, from)
		}
		if !slices.ContainsFunc(q.Options, func(o Option) bool { return o.ID == to }) {
			l.add(f, field+".options."+from, "question %q has no answer %q", q.ID, to)
		}
	}
}

// cycle reports whether following question targets from start can return
// to start.
func cycle(c *Cause, start string) bool {
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		q := c.Question(id)
		if q == nil {
			return false
		}
		for _, o := range q.Options {
			if o.Then == start {
				return true
			}
			if c.Question(o.Then) != nil && !seen[o.Then] {
				seen[o.Then] = true
				if walk(o.Then) {
					return true
				}
			}
		}
		return false
	}
	return walk(start)
}

// question checks what cause and triage questions share.
func (l *loader) question(f, field string, q Question, seen map[string]bool) {
	switch {
	case q.ID == "":
		l.add(f, field+".id", "is missing")
	case !idPattern.MatchString(q.ID):
		l.add(f, field+".id", "%q must be lower-case letters, digits and _ (at most 32)", q.ID)
	case seen[q.ID]:
		l.add(f, field+".id", "duplicate question ID %q", q.ID)
	}
	seen[q.ID] = true
	l.text(f, field+".text", q.Text)
	if len(q.Options) < 2 {
		l.add(f, field+".options", "question %q needs at least two answers", q.ID)
	}
	ids := map[string]bool{}
	for oi, o := range q.Options {
		of := fmt.Sprintf("%s.options[%d]", field, oi)
		switch {
		case o.ID == "":
			l.add(f, of+".id", "is missing")
		case !idPattern.MatchString(o.ID) || len(o.ID) > 20:
			l.add(f, of+".id", "%q must be lower-case letters, digits and _ (at most 20)", o.ID)
		case ids[o.ID]:
			l.add(f, of+".id", "duplicate answer ID %q", o.ID)
		}
		ids[o.ID] = true
		l.text(f, of+".label", o.Label)
		if utf8.RuneCountInString(o.Label) > MaxLabel {
			l.add(f, of+".label", "longer than %d characters", MaxLabel)
		}
	}
}

func (l *loader) validateTriage(k *KB) {
	t := &k.Triage
	f := TriageFile
	if t.Confident == 0 {
		t.Confident = defaultConfident
	} else if t.Confident <= 0 || t.Confident > 1 {
		l.add(f, "confident", "must be between 0 and 1")
	}
	if t.MaxQuestions == 0 {
		t.MaxQuestions = defaultMaxAsk
	} else if t.MaxQuestions < 0 {
		l.add(f, "max_questions", "must be positive")
	}
	if t.MaxCauses == 0 {
		t.MaxCauses = defaultMaxCauses
	} else if t.MaxCauses < 0 {
		l.add(f, "max_causes", "must be positive")
	}
	if len(t.Questions) == 0 {
		l.add(f, "questions", "triage needs at least one question")
	}
	seen := map[string]bool{}
	for qi, q := range t.Questions {
		field := fmt.Sprintf("questions[%d]", qi)
		l.question(f, field, q, seen)
		effect := false
		for oi, o := range q.Options {
			of := fmt.Sprintf("%s.options[%d]", field, oi)
			if o.Then != "" {
				if k.ByID[o.Then] == nil {
					l.add(f, of+".then", "unknown cause ID %q", o.Then)
				}
				effect = true
			}
			for cid, w := range o.Weights {
				if k.ByID[cid] == nil {
					l.add(f, of+".weights."+cid, "unknown cause ID %q", cid)
				}
				if w <= 0 {
					l.add(f, of+".weights."+cid, "weight must be greater than 0")
				}
				if w != 1 {
					effect = true
				}
			}
		}
		if !effect && len(q.Options) > 0 {
			l.add(f, field, "question %q: no answer changes anything (no weights, no then); its answers lead nowhere", q.ID)
		}
	}
}

func (l *loader) validateFAQ(k *KB) {
	seen := map[string]bool{}
	if len(k.FAQ) == 0 {
		l.add(FAQFile, "faq", "no questions")
	}
	for i, q := range k.FAQ {
		field := fmt.Sprintf("faq[%d]", i)
		switch {
		case !idPattern.MatchString(q.ID) || len(q.ID) > 20:
			l.add(FAQFile, field+".id", "%q must be lower-case letters, digits and _ (at most 20)", q.ID)
		case seen[q.ID]:
			l.add(FAQFile, field+".id", "duplicate FAQ ID %q", q.ID)
		}
		seen[q.ID] = true
		l.text(FAQFile, field+".question", q.Question)
		l.text(FAQFile, field+".answer", q.Answer)
		if utf8.RuneCountInString(q.Question) > 80 {
			l.add(FAQFile, field+".question", "longer than 80 characters (it is a button label)")
		}
	}
}

func (l *loader) validateChecklist(k *KB) {
	l.text(ChecklistFile, "title", k.Checklist.Title)
	if len(k.Checklist.Items) == 0 {
		l.add(ChecklistFile, "items", "the checklist is empty")
	}
	seen := map[string]bool{}
	for i, it := range k.Checklist.Items {
		field := fmt.Sprintf("items[%d]", i)
		if seen[it.ID] {
			l.add(ChecklistFile, field+".id", "duplicate item ID %q", it.ID)
		}
		seen[it.ID] = true
		l.text(ChecklistFile, field+".text", it.Text)
	}
}

func (l *loader) validateMessages(k *KB) {
	for _, name := range RequiredMessages {
		if strings.TrimSpace(k.Messages[name]) == "" {
			l.add(MessagesFile, name, "required message %q is missing or empty", name)
		}
	}
	for name := range k.Messages {
		if !slices.Contains(RequiredMessages, name) {
			l.add(MessagesFile, name, "unknown message %q (a typo?)", name)
		}
	}
	for name, text := range k.Messages {
		for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
			if !slices.Contains(Placeholders[name], m[1]) {
				l.add(MessagesFile, name, "unknown placeholder {%s} (this message knows %v)", m[1], Placeholders[name])
			}
		}
	}
	for _, name := range RequiredMessages {
		if strings.HasPrefix(name, "btn_") && utf8.RuneCountInString(k.Messages[name]) > MaxLabel {
			l.add(MessagesFile, name, "button label longer than %d characters", MaxLabel)
		}
	}
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

func (l *loader) validateExamples(k *KB, file string, exs []Example, required bool) {
	if !required && exs == nil {
		return
	}
	count := map[string]int{}
	for _, ex := range exs {
		if !isIntent(ex.Intent) && k.ByID[ex.Intent] == nil {
			l.errs = append(l.errs, &Error{File: file, Line: ex.Line, Field: "intent", Msg: fmt.Sprintf("unknown intent or cause ID %q", ex.Intent)})
			continue
		}
		count[ex.Intent]++
	}
	if !required {
		return
	}
	need := append(append([]string{}, BaseIntents...), causeIDs(k)...)
	for _, id := range need {
		if count[id] < MinExamples {
			l.add(file, "", "intent %q has %d examples; at least %d are needed", id, count[id], MinExamples)
		}
	}
}

func causeIDs(k *KB) []string {
	ids := make([]string, 0, len(k.Causes))
	for _, c := range k.Causes {
		ids = append(ids, c.ID)
	}
	return ids
}

func isIntent(id string) bool { return slices.Contains(BaseIntents, id) }

// text checks that a user-facing text is present and not only white space.
func (l *loader) text(file, field, s string) {
	if strings.TrimSpace(s) == "" {
		l.add(file, field, "is missing or empty")
	}
}
