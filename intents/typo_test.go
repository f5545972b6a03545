package intents

import (
	"testing"
)

var typoData = []Example{
	{"i can not send messages", "send"}, {"my messages fail", "send"},
	{"hello there", "greet"}, {"good morning", "greet"},
	{"please help me", "help"}, {"what can you do", "help"},
}

// wordOf returns the training word of index i.
func (m *Model) wordOf(i int32) string {
	for w, j := range m.words {
		if j == i {
			return w
		}
	}
	return ""
}

func TestTypoMatch(t *testing.T) {
	m, err := Train(typoData, Options{TypoMinLength: 4})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ typed, want string }{
		{"mesages", "messages"}, // a letter missing
		{"messagess", "messages"},
		{"helpp", "help"}, // a letter too many
		{"mornign", "morning"},
		{"mroning", "morning"}, // two letters swapped
		{"hellp", "help"},      // a letter too many is tried before one changed
		{"hallo", "hello"},     // a letter changed
		{"sen", "send"},        // a letter missing from a word of TypoMinLength letters
		{"hlpe", "help"},       // a letter moved
		{"fai", "fail"},
		{"xyzzy", ""},
		{"hxlq", ""},     // two letters changed
		{"me55ages", ""}, // not letters
		{"te", ""},       // too short
	}
	var del []byte
	for _, tt := range tests {
		got := ""
		if i := m.typoMatch([]byte(tt.typed), &del); i >= 0 {
			got = m.wordOf(i)
		}
		if got != tt.want {
			t.Errorf("typoMatch(%q) = %q, want %q", tt.typed, got, tt.want)
		}
	}

	// Off by default, and words shorter than TypoMinLength never match.
	off, err := Train(typoData, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if i := off.typoMatch([]byte("mesages"), &del); i >= 0 {
		t.Errorf("typo matching off: typoMatch(mesages) = %q", off.wordOf(i))
	}
	long, err := Train(typoData, Options{TypoMinLength: 5})
	if err != nil {
		t.Fatal(err)
	}
	if i := long.typoMatch([]byte("helpp"), &del); i >= 0 {
		t.Errorf("TypoMinLength 5: typoMatch(helpp) = %q, want none (help has 4 letters)", long.wordOf(i))
	}
}

// TestTypoClassify: a misspelt word is read as the training word, so the
// text scores as if it were spelt right and counts as fully recognised.
func TestTypoClassify(t *testing.T) {
	m, err := Train(typoData, Options{TypoMinLength: 4})
	if err != nil {
		t.Fatal(err)
	}
	right, typo := m.Classify("my messages fail"), m.Classify("my mesages fial")
	if typo.Intent != "send" || typo.Confidence != right.Confidence {
		t.Errorf("Classify(%q) = %q %.4f, want send %.4f as spelt right", "my mesages fial", typo.Intent, typo.Confidence, right.Confidence)
	}
	if r := m.Classify("zzkx qwvb"); !r.OutOfScope {
		t.Errorf("Classify of unknown words = %+v, want out of scope", r)
	}
}

// TestCoveragePrior: with a prior count, one unknown word in a two-word text
// no longer hands it to out_of_scope, while a text of unknown words is still
// rejected.
func TestCoveragePrior(t *testing.T) {
	data := append(append([]Example{}, supportFixture(t)...), offtopicLines(t, 60)...)
	text := "hello zzkx" // "zzkx" is no word the model knows
	plain, err := Train(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	prior, err := Train(data, Options{CoveragePrior: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := plain.Classify(text); !r.OutOfScope || r.Ranked[0].Intent != "greeting" {
		t.Errorf("without a prior: Classify(%q) = %+v, want greeting ranked first, rejected (coverage ½)", text, r)
	}
	if r := prior.Classify(text); r.Intent != "greeting" {
		t.Errorf("with CoveragePrior 1: Classify(%q) = %+v, want greeting", text, r)
	}
	if r := prior.Classify("zzkx qwvb"); !r.OutOfScope || r.Confidence != 0 {
		t.Errorf("with CoveragePrior 1: Classify of unknown words = %+v, want out of scope, confidence 0", r)
	}
}

// TestMinGradient: skipping more of the gradient trains a model as good on
// held-out fixture lines.
func TestMinGradient(t *testing.T) {
	train, held := splitEvery(supportFixture(t), 5)
	m, err := Train(train, Options{MinGradient: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	if r := Evaluate(m, held); r.Accuracy < 0.95 {
		t.Errorf("MinGradient 1e-2: accuracy on held-out fixture lines %.3f, want >= 0.95", r.Accuracy)
	}
}
