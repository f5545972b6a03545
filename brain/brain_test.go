package brain_test

import (
	"strings"
	"testing"

	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
)

func trained(t *testing.T) (*kb.KB, *intents.Model) {
	t.Helper()
	k, m, err := brain.Start("")
	if err != nil {
		t.Fatal(err)
	}
	return k, m
}

// TestEvalAccuracy guards the figure reported in the README and the issue's
// target: the shipped model (trained on training.jsonl, tuned on dev.jsonl)
// reaches accuracy 0.95 on the held-out evaluation file (measured 0.961).
// It reports the aggregate figures only: eval.jsonl is not for error
// analysis (use dev.jsonl).
func TestEvalAccuracy(t *testing.T) {
	k, m := trained(t)
	if len(k.Eval) == 0 {
		t.Fatal("the embedded knowledge base has no eval.jsonl")
	}
	r := intents.Evaluate(m, brain.Examples(k.Eval))
	t.Logf("eval.jsonl: %d lines, accuracy %.4f, in-scope accuracy %.4f, out-of-scope recall %.4f",
		r.N, r.Accuracy, r.InScopeAccuracy, r.OOSRecall)
	if r.Accuracy < 0.95 {
		t.Errorf("accuracy on eval.jsonl %.4f, want >= 0.95 (was 0.961)", r.Accuracy)
	}
}

// TestDevAccuracy checks the model on the lines it was tuned on: not a
// held-out figure (the temperature and threshold were chosen on them), but
// one that falls when training data or the classifier regress. On failure it
// lists the misclassified lines, for error analysis.
func TestDevAccuracy(t *testing.T) {
	k, m := trained(t)
	if len(k.Dev) == 0 {
		t.Fatal("the embedded knowledge base has no dev.jsonl")
	}
	r := intents.Evaluate(m, brain.Examples(k.Dev))
	t.Logf("dev.jsonl: %d lines, accuracy %.4f, in-scope accuracy %.4f, out-of-scope recall %.4f, threshold %.4f",
		r.N, r.Accuracy, r.InScopeAccuracy, r.OOSRecall, m.Threshold())
	if r.Accuracy < 0.95 || r.OOSRecall < 0.85 {
		var b strings.Builder
		r.WriteText(&b)
		t.Errorf("accuracy on dev.jsonl %.4f (out-of-scope recall %.4f), want >= 0.95 (>= 0.85)\n%s",
			r.Accuracy, r.OOSRecall, b.String())
	}
}

// TestTrainWithoutDev: a knowledge base without dev.jsonl still gives a
// model, untuned.
func TestTrainWithoutDev(t *testing.T) {
	k, err := brain.LoadKB("")
	if err != nil {
		t.Fatal(err)
	}
	k.Dev = nil
	m, err := brain.Train(k)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Classify("i cant send messages on tiktok"); r.Intent != kb.CantSend {
		t.Errorf("untuned model: %q, want %q", r.Intent, kb.CantSend)
	}
}

// BenchmarkStartup measures what the assistant does before its first
// reply: load the embedded knowledge base, train the classifier and tune it
// on dev.jsonl.
func BenchmarkStartup(b *testing.B) {
	for b.Loop() {
		if _, _, err := brain.Start(""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyKB classifies one message at a time with the shipped
// model (the KB's training data and options, typo matching on), cycling
// through the KB's evaluation lines: realistic messages, many words the
// model never saw.
func BenchmarkClassifyKB(b *testing.B) {
	k, m, err := brain.Start("")
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, len(k.Eval))
	for i, e := range k.Eval {
		texts[i] = e.Text
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Classify(texts[i%len(texts)])
	}
}
