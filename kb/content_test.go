package kb_test

import (
	"fmt"
	"io/fs"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dmdoctor/dmdoctor/kb"
)

// Length limits that keep every text readable on a phone.
const (
	maxTitle       = 40
	maxSummary     = 200
	maxExplanation = 600
	maxSymptom     = 120
	maxStep        = 220
	maxQuestion    = 200
	maxReply       = 120
	maxFAQAnswer   = 600
	maxChecklist   = 220
	minEvalLines   = 30
	minDevLines    = 40
)

// seedWords are the machine-paraphrase words of the source article. None
// of them may reach the knowledge base.
var seedWords = []string{"utility", "group pointers", "price limiting", "characteristic", "doubtlessly"}

func load(t *testing.T) *kb.KB {
	t.Helper()
	k, err := kb.Default()
	if err != nil {
		t.Fatalf("embedded knowledge base does not load:\n%v", err)
	}
	return k
}

func checkLen(t *testing.T, where, s string, limit int) {
	t.Helper()
	if n := utf8.RuneCountInString(s); n > limit {
		t.Errorf("%s: %d characters, at most %d: %q", where, n, limit, s)
	}
}

func TestCausesFitAPhone(t *testing.T) {
	k := load(t)
	for _, c := range k.Causes {
		f := c.File
		checkLen(t, f+": title", c.Title, maxTitle)
		checkLen(t, f+": summary", c.Summary, maxSummary)
		checkLen(t, f+": explanation", c.Explanation, maxExplanation)
		if n := len(c.Steps); n < 4 || n > 7 {
			t.Errorf("%s: %d steps, want 4 to 7", f, n)
		}
		for i, s := range c.Steps {
			checkLen(t, fmt.Sprintf("%s: steps[%d]", f, i), s, maxStep)
		}
		if n := len(c.Symptoms); n < 4 || n > 8 {
			t.Errorf("%s: %d symptoms, want 4 to 8", f, n)
		}
		for i, s := range c.Symptoms {
			checkLen(t, fmt.Sprintf("%s: symptoms[%d]", f, i), s, maxSymptom)
		}
		if n := len(c.Questions); n < 1 || n > 2 {
			t.Errorf("%s: %d questions, want 1 or 2", f, n)
		}
		if c.Prior <= 0 {
			t.Errorf("%s: prior %v, want > 0", f, c.Prior)
		}
		for _, q := range c.Questions {
			checkLen(t, f+": question "+q.ID, q.Text, maxQuestion)
			if n := len(q.Options); n < 2 || n > 4 {
				t.Errorf("%s: question %s has %d answers, want 2 to 4", f, q.ID, n)
			}
			for _, o := range q.Options {
				where := f + ": " + q.ID + "." + o.ID
				checkLen(t, where+" label", o.Label, kb.MaxLabel)
				checkLen(t, where+" reply", o.Reply, maxReply)
			}
		}
	}
}

func TestOtherContentFitsAPhone(t *testing.T) {
	k := load(t)
	for _, q := range k.FAQ {
		checkLen(t, "faq "+q.ID+" question", q.Question, 80)
		checkLen(t, "faq "+q.ID+" answer", q.Answer, maxFAQAnswer)
	}
	for _, id := range []string{"main_reasons", "account_restrictions", "network", "glitches", "violations", "privacy"} {
		found := false
		for _, q := range k.FAQ {
			found = found || q.ID == id
		}
		if !found {
			t.Errorf("faq %q missing", id)
		}
	}
	if n := len(k.Checklist.Items); n != 7 {
		t.Errorf("checklist has %d items, want 7", n)
	}
	for _, it := range k.Checklist.Items {
		checkLen(t, "checklist "+it.ID, it.Text, maxChecklist)
	}
	for _, q := range k.Triage.Questions {
		checkLen(t, "triage "+q.ID, q.Text, maxQuestion)
	}
}

// TestNoSeedWording reads every data file as text, so no field (or
// training line) slips through.
func TestNoSeedWording(t *testing.T) {
	fsys := kb.DefaultFS()
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(strings.ToLower(string(data)), "\n") {
			for _, w := range seedWords {
				if strings.Contains(line, w) {
					t.Errorf("%s:%d: contains the seed's paraphrase %q", name, i+1, w)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func normLine(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

func TestEvalIsHeldOut(t *testing.T) {
	k := load(t)
	if len(k.Eval) == 0 {
		t.Fatal("eval.jsonl is missing or empty")
	}
	train := map[string]int{}
	for _, ex := range k.Training {
		train[normLine(ex.Text)] = ex.Line
	}
	count := map[string]int{}
	seen := map[string]int{}
	for _, ex := range k.Eval {
		n := normLine(ex.Text)
		if line, ok := train[n]; ok {
			t.Errorf("eval.jsonl:%d is also training.jsonl:%d: %q", ex.Line, line, ex.Text)
		}
		if line, ok := seen[n]; ok {
			t.Errorf("eval.jsonl:%d repeats line %d: %q", ex.Line, line, ex.Text)
		}
		seen[n] = ex.Line
		count[ex.Intent]++
	}
	for _, id := range append(append([]string{}, kb.BaseIntents...), kb.CauseIDs...) {
		if count[id] < minEvalLines {
			t.Errorf("intent %q has %d eval lines, want at least %d", id, count[id], minEvalLines)
		}
	}
}

// TestDevIsHeldOut: dev.jsonl tunes the classifier (see brain.Train), so
// none of its lines may be trained on, and it must not leak into the
// evaluation either. Every intent needs enough lines to be measured.
func TestDevIsHeldOut(t *testing.T) {
	k := load(t)
	if len(k.Dev) == 0 {
		t.Fatal("dev.jsonl is missing or empty")
	}
	train := map[string]int{}
	for _, ex := range k.Training {
		train[normLine(ex.Text)] = ex.Line
	}
	eval := map[string]int{}
	for _, ex := range k.Eval {
		eval[normLine(ex.Text)] = ex.Line
	}
	count := map[string]int{}
	seen := map[string]int{}
	for _, ex := range k.Dev {
		n := normLine(ex.Text)
		if line, ok := train[n]; ok {
			t.Errorf("dev.jsonl:%d is also training.jsonl:%d: %q", ex.Line, line, ex.Text)
		}
		if line, ok := eval[n]; ok {
			// The text is not shown: eval.jsonl is read by code only.
			t.Errorf("dev.jsonl:%d is also eval.jsonl:%d", ex.Line, line)
		}
		if line, ok := seen[n]; ok {
			t.Errorf("dev.jsonl:%d repeats line %d: %q", ex.Line, line, ex.Text)
		}
		seen[n] = ex.Line
		count[ex.Intent]++
	}
	for _, id := range append(append([]string{}, kb.BaseIntents...), kb.CauseIDs...) {
		if count[id] < minDevLines {
			t.Errorf("intent %q has %d dev lines, want at least %d", id, count[id], minDevLines)
		}
	}
}

func TestTrainingHasNoDuplicates(t *testing.T) {
	k := load(t)
	seen := map[string]kb.Example{}
	for _, ex := range k.Training {
		n := normLine(ex.Text)
		if prev, ok := seen[n]; ok {
			t.Errorf("training.jsonl:%d repeats line %d (%s / %s): %q", ex.Line, prev.Line, prev.Intent, ex.Intent, ex.Text)
		}
		seen[n] = ex
	}
}

// weight is an answer's likelihood under a cause (1 when not listed).
func weight(o kb.Option, cause string) float64 {
	if w, ok := o.Weights[cause]; ok {
		return w
	}
	return 1
}

// TestTriageAnswersSplitCauses: every triage question must tell causes
// apart. Some answer must weigh two causes differently, and the answers
// must not all carry the same (proportional) likelihoods, or asking would
// teach nothing.
func TestTriageAnswersSplitCauses(t *testing.T) {
	k := load(t)
	for _, q := range k.Triage.Questions {
		splits := false
		var first []float64
		differ := false
		for _, o := range q.Options {
			vec := make([]float64, len(kb.CauseIDs))
			sum := 0.0
			for i, c := range kb.CauseIDs {
				vec[i] = weight(o, c)
				sum += vec[i]
				if vec[i] != vec[0] {
					splits = true
				}
			}
			for i := range vec {
				vec[i] /= sum
			}
			if first == nil {
				first = vec
				continue
			}
			for i := range vec {
				if math.Abs(vec[i]-first[i]) > 1e-9 {
					differ = true
				}
			}
		}
		if !splits {
			t.Errorf("triage question %q: no answer weighs two causes differently", q.ID)
		}
		if !differ {
			t.Errorf("triage question %q: every answer has the same likelihoods", q.ID)
		}
	}
}
