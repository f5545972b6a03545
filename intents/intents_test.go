package intents

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestReadJSONL(t *testing.T) {
	in := `{"text": "hi there", "intent": "greeting"}

{"text": "bye", "intent": "goodbye", "source": "ignored"}
   
{"text": "", "intent": "out_of_scope"}`
	got, err := ReadJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{{"hi there", "greeting"}, {"bye", "goodbye"}, {"", OutOfScope}}
	if !slices.Equal(got, want) {
		t.Errorf("ReadJSONL = %v, want %v", got, want)
	}
}

func TestReadJSONLErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bad json", "{\"text\": \"a\", \"intent\": \"x\"}\n\n{\"text\": \"b\",", "line 3: "},
		{"missing intent", "{\"text\": \"a\", \"intent\": \"x\"}\n{\"text\": \"b\"}\n", "line 2: missing intent"},
		{"not an object", "[1, 2]\n", "line 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadJSONL(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadJSONL error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadJSONLReadError(t *testing.T) {
	_, err := ReadJSONL(failingReader{})
	if err == nil || !strings.Contains(err.Error(), "line 1: disk on fire") {
		t.Errorf("ReadJSONL error = %v, want the reader's error on line 1", err)
	}
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name string
		data []Example
		want string
	}{
		{"no examples", nil, "no examples"},
		{"one intent", []Example{{"a", "x"}, {"b", "x"}}, "at least 2 intents"},
		{"empty intent", []Example{{"a", "x"}, {"b", ""}}, "example 2: empty intent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Train(tt.data, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Train error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestIntents(t *testing.T) {
	m, err := Train([]Example{{"b", "beta"}, {"a", "alpha"}, {"c", OutOfScope}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Intents(), []string{"alpha", "beta"}; !slices.Equal(got, want) {
		t.Errorf("Intents() = %v, want %v", got, want)
	}
	m.Intents()[0] = "changed"
	if m.Intents()[0] != "alpha" {
		t.Error("Intents() returned the model's own slice")
	}
}

// checkResult reports what is wrong with a Result of model m.
func checkResult(t testing.TB, m *Model, text string, r Result) {
	t.Helper()
	known := map[string]bool{OutOfScope: true}
	for _, in := range m.Intents() {
		known[in] = true
	}
	if !known[r.Intent] {
		t.Errorf("Classify(%q): unknown intent %q", text, r.Intent)
	}
	if r.OutOfScope != (r.Intent == OutOfScope) {
		t.Errorf("Classify(%q): OutOfScope %v with intent %q", text, r.OutOfScope, r.Intent)
	}
	if !(r.Confidence >= 0 && r.Confidence <= 1) {
		t.Errorf("Classify(%q): confidence %v not in [0, 1]", text, r.Confidence)
	}
	if len(r.Ranked) == 0 || len(r.Ranked) > 5 {
		t.Fatalf("Classify(%q): %d ranked intents, want 1 to 5", text, len(r.Ranked))
	}
	if r.Ranked[0].Confidence != r.Confidence || (!r.OutOfScope && r.Ranked[0].Intent != r.Intent) {
		t.Errorf("Classify(%q): Ranked[0] = %v, result %q %v", text, r.Ranked[0], r.Intent, r.Confidence)
	}
	seen := map[string]bool{}
	for i, s := range r.Ranked {
		if s.Intent == OutOfScope || !known[s.Intent] || seen[s.Intent] {
			t.Errorf("Classify(%q): ranked intent %q is out of scope, unknown or repeated", text, s.Intent)
		}
		seen[s.Intent] = true
		if !(s.Confidence >= 0 && s.Confidence <= 1) {
			t.Errorf("Classify(%q): ranked confidence %v not in [0, 1]", text, s.Confidence)
		}
		if i > 0 && s.Confidence > r.Ranked[i-1].Confidence {
			t.Errorf("Classify(%q): ranked not sorted: %v", text, r.Ranked)
		}
	}
}

func TestClassifyOddInputs(t *testing.T) {
	m := trainedSupport(t)
	tests := []struct {
		name, text string
		oos        bool // must be rejected: no token the model knows
	}{
		{"empty", "", true},
		{"whitespace", " \t\n ", true},
		{"only punctuation", "?!... --- ,,,", true},
		{"invalid utf-8", "\xff\xfe\xc3", true},
		{"russian", "где мои деньги", true},
		{"chinese", "我的账户被锁定了", true},
		{"only emoji", "😭😭😭", false},
		{"100 KB", strings.Repeat("i cant send messages ", 5000), false},
		{"100 KB word", strings.Repeat("x", 100_000), false},
		{"nul bytes", "reset\x00password", false},
		{"in scope", "i forgot my password", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := m.Classify(tt.text)
			checkResult(t, m, tt.text, r)
			if tt.oos && !r.OutOfScope {
				t.Errorf("Classify(%q) = %q (%.3f), want out of scope", tt.text, r.Intent, r.Confidence)
			}
		})
	}
}

func TestClassifyFixture(t *testing.T) {
	data := supportFixture(t)
	train, held := splitEvery(data, 5)
	m, err := Train(train, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(m, held)
	if r.Accuracy < 0.95 {
		var b bytes.Buffer
		r.WriteText(&b)
		t.Errorf("accuracy on held-out fixture lines %.3f, want >= 0.95\n%s", r.Accuracy, b.String())
	}
	// Chat noise the templates never had: the normalisation must carry it.
	for text, want := range map[string]string{
		"i cnt send msgsss to ppl 😡":       "cant_send_message",
		"PLZZZ RESET MY PASSWORD":          "reset_password",
		"ur app keeps crashinggg":          "app_crashes",
		"how do i turn off notifications?": "notifications_off",
	} {
		if got := m.Classify(text); got.Ranked[0].Intent != want {
			t.Errorf("Classify(%q) best intent %q (%v), want %q", text, got.Ranked[0].Intent, got.Ranked, want)
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	data := supportFixture(t)
	// The ensemble and the steps before it run in parallel, one part of
	// at least minPart lines per core (here four parts of the fixture);
	// one core must give the same model.
	defer func(n int) { minPart = n }(minPart)
	minPart = 8
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	a, err := Train(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(1)
	b, err := Train(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.rowVal, b.rowVal) || !slices.Equal(a.bias, b.bias) || !slices.Equal(a.charVec, b.charVec) {
		t.Fatal("two trainings on the same data differ")
	}
	c, err := Train(data, Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.bias, c.bias) {
		t.Error("training with another seed gave the same model")
	}
}

func TestSetThreshold(t *testing.T) {
	m := trainedSupport(t)
	defer m.SetThreshold(m.Threshold())
	text := "i forgot my password"
	m.SetThreshold(0)
	if r := m.Classify(text); r.OutOfScope || r.Intent != "reset_password" {
		t.Fatalf("at threshold 0: %+v, want reset_password", r)
	}
	conf := m.Classify(text).Confidence
	m.SetThreshold(math.Nextafter(conf, 2))
	if r := m.Classify(text); !r.OutOfScope {
		t.Errorf("at threshold just above its confidence %v: %+v, want out of scope", conf, r)
	}
	for _, tt := range []struct{ set, want float64 }{{-1, 0}, {2, 1}, {0.25, 0.25}, {math.NaN(), 0.25}} {
		m.SetThreshold(tt.set)
		if got := m.Threshold(); got != tt.want {
			t.Errorf("SetThreshold(%v): Threshold() = %v, want %v", tt.set, got, tt.want)
		}
	}
}

func TestConcurrentClassify(t *testing.T) {
	m := trainedSupport(t)
	defer m.SetThreshold(m.Threshold())
	texts := []string{"hi", "i cant send msgs", "refund pls 😡", "looooove it", "где", strings.Repeat("block ", 300)}
	want := make([]Result, len(texts))
	for i, text := range texts {
		want[i] = m.Classify(text)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (i + g) % len(texts)
				r := m.Classify(texts[k])
				if !slices.Equal(r.Ranked, want[k].Ranked) {
					t.Errorf("concurrent Classify(%q) ranked %v, want %v", texts[k], r.Ranked, want[k].Ranked)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // thresholds may change while others classify
		defer wg.Done()
		for i := range 200 {
			m.SetThreshold(float64(i%10) / 10)
		}
	}()
	wg.Wait()
}

// offtopicLines returns generated out-of-scope lines for the support fixture.
func offtopicLines(tb testing.TB, n int) []Example {
	tb.Helper()
	ex, err := generateFixture("testdata/offtopic.tmpl", n, 7)
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// TestTuneThresholdRule checks the rule of TuneThreshold by brute force: no
// threshold gives a higher F1 of out-of-scope on val, and none lower gives
// the same.
func TestTuneThresholdRule(t *testing.T) {
	data := supportFixture(t)
	train, val := splitEvery(data, 4)
	oos := offtopicLines(t, 60)
	train = append(train, oos[:20]...)
	val = append(val, oos[20:]...)
	m, err := Train(train, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := TuneThreshold(m, val)
	if m.Threshold() != got {
		t.Errorf("Threshold() = %v after TuneThreshold returned %v", m.Threshold(), got)
	}
	f1At := func(th float64) float64 {
		m.SetThreshold(th)
		r := Evaluate(m, val)
		return r.PerIntent[OutOfScope].F1
	}
	best := f1At(got)
	candidates := []float64{0, 1}
	for _, ex := range val {
		candidates = append(candidates, m.Classify(ex.Text).Confidence)
	}
	for _, th := range candidates {
		f := f1At(th)
		if f > best+1e-12 {
			t.Errorf("threshold %v gives F1 %v, more than the chosen %v's %v", th, f, got, best)
		}
		if th < got && f >= best-1e-12 {
			t.Errorf("lower threshold %v gives the same F1 %v as the chosen %v", th, f, got)
		}
	}
	m.SetThreshold(got)
}

func TestTuneThresholdWithoutOOS(t *testing.T) {
	data := supportFixture(t)
	train, val := splitEvery(data, 5)
	m, err := Train(train, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetThreshold(0.123)
	if got := TuneThreshold(m, val); got != 0.123 {
		t.Errorf("TuneThreshold without out_of_scope lines = %v, want the threshold unchanged (0.123)", got)
	}
	if got := TuneThreshold(m, nil); got != 0.123 {
		t.Errorf("TuneThreshold on no data = %v, want the threshold unchanged (0.123)", got)
	}
}

func TestCalibration(t *testing.T) {
	data := append(supportFixture(t), offtopicLines(t, 60)...)
	// Hold out every third line; calibrate on half of those, measure on
	// the other half.
	train, held := splitEvery(data, 3)
	fit, check := splitEvery(held, 2)
	m, err := Train(train, Options{})
	if err != nil {
		t.Fatal(err)
	}
	Calibrate(m, fit)
	e := ece(m, check)
	t.Logf("expected calibration error %.4f at temperature %.3f", e, m.calib.Load().temperature)
	if e > 0.05 {
		t.Errorf("expected calibration error on held-out lines %.4f, want <= 0.05", e)
	}
}

func TestEvaluate(t *testing.T) {
	m := trainedSupport(t)
	defer m.SetThreshold(m.Threshold())
	m.SetThreshold(0.5)
	data := append(supportFixture(t)[:300:300], offtopicLines(t, 40)...)
	data = append(data, Example{"i want a refund", "reset_password"}) // a wrong label
	r := Evaluate(m, data)

	// Recount from Classify.
	var in, inRight, oos, oosRight, right int
	for _, ex := range data {
		got := m.Classify(ex.Text).Intent
		if got == ex.Intent {
			right++
		}
		if ex.Intent == OutOfScope {
			oos++
			if got == OutOfScope {
				oosRight++
			}
		} else {
			in++
			if got == ex.Intent {
				inRight++
			}
		}
	}
	if r.N != len(data) || r.NInScope != in || r.NOutOfScope != oos {
		t.Errorf("counts N=%d in=%d oos=%d, want %d %d %d", r.N, r.NInScope, r.NOutOfScope, len(data), in, oos)
	}
	if r.Accuracy != ratio(right, len(data)) || r.InScopeAccuracy != ratio(inRight, in) || r.OOSRecall != ratio(oosRight, oos) {
		t.Errorf("accuracy %v, in-scope %v, oos recall %v; want %v %v %v", r.Accuracy, r.InScopeAccuracy, r.OOSRecall,
			ratio(right, len(data)), ratio(inRight, in), ratio(oosRight, oos))
	}
	if len(r.Misclassified) != len(data)-right {
		t.Errorf("%d misclassified, want %d", len(r.Misclassified), len(data)-right)
	}
	confused, support := 0, 0
	for i, c := range r.Confusion {
		confused += c.Count
		if i > 0 && c.Count > r.Confusion[i-1].Count {
			t.Errorf("confusion not sorted: %v", r.Confusion)
		}
	}
	for _, p := range r.PerIntent {
		support += p.Support
	}
	if confused != len(r.Misclassified) || support != len(data) {
		t.Errorf("confusion counts %d, support %d; want %d and %d", confused, support, len(r.Misclassified), len(data))
	}
	if p := r.PerIntent["reset_password"]; p.Recall == 1 {
		t.Errorf("reset_password recall 1 despite a wrong label: %+v", p)
	}

	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"accuracy: ", "in-scope accuracy: ", "out-of-scope recall: ",
		"precision", "reset_password", "most confused", "misclassified (", `reset_password -> `, `"i want a refund"`} {
		if !strings.Contains(out, want) {
			t.Errorf("WriteText output lacks %q:\n%s", want, out)
		}
	}
	if !utf8.ValidString(out) {
		t.Error("WriteText output is not valid UTF-8")
	}
}

func TestWritten(t *testing.T) {
	if got := written([]float32(nil)); got != nil {
		t.Errorf("written(nil) = %v", got)
	}
	for _, n := range []int{1, 1023, 1024, 1025, 5000} {
		s := make([]uint64, n)
		got := written(s)
		if len(got) != n || &got[0] != &s[0] {
			t.Fatalf("written of %d: a different slice (len %d)", n, len(got))
		}
		for i, v := range got {
			if v != 0 {
				t.Fatalf("written of %d: element %d is %d", n, i, v)
			}
		}
	}
}

// TestIDTable: ids are handed out in order of first sight and found again,
// whether the table grows as it fills or had room reserved, also when the
// reservation was too small.
func TestIDTable(t *testing.T) {
	for _, reserve := range []int{0, 10, 5000, 50000} {
		var tab idTable
		tab.reserve(reserve)
		const n = 20000
		for i := range n {
			h := uint64(i)*0x9e3779b97f4a7c15 + 1
			id, added := tab.get(h, int32(i))
			if !added || id != int32(i) {
				t.Fatalf("reserve %d: key %d: got id %d, added %v; want %d, true", reserve, i, id, added, i)
			}
		}
		for i := range n {
			h := uint64(i)*0x9e3779b97f4a7c15 + 1
			if id, added := tab.get(h, -1); added || id != int32(i) {
				t.Fatalf("reserve %d: key %d found again as %d (added %v)", reserve, i, id, added)
			}
		}
		if tab.n != n || 2*tab.n > len(tab.keys) {
			t.Errorf("reserve %d: %d keys in %d slots", reserve, tab.n, len(tab.keys))
		}
	}
}
