package intents

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report is how a model did on labelled data.
type Report struct {
	// N is the number of lines; NInScope and NOutOfScope split it by gold label.
	N           int `json:"n"`
	NInScope    int `json:"n_in_scope"`
	NOutOfScope int `json:"n_out_of_scope"`
	// Accuracy is the share of lines whose predicted intent (OutOfScope
	// included) equals the gold one.
	Accuracy float64 `json:"accuracy"`
	// InScopeAccuracy is, over the lines whose gold intent is not
	// OutOfScope, the share predicted exactly right (predicting OutOfScope
	// counts as wrong). As defined with CLINC150.
	InScopeAccuracy float64 `json:"in_scope_accuracy"`
	// OOSRecall is, over the lines whose gold intent is OutOfScope, the
	// share predicted OutOfScope.
	OOSRecall float64 `json:"oos_recall"`
	// Threshold is the model's rejection threshold during the evaluation.
	Threshold float64 `json:"threshold"`
	// PerIntent holds precision, recall and F1 of every intent that is a gold
	// or a predicted label, OutOfScope included.
	PerIntent map[string]PRF `json:"per_intent"`
	// Confusion holds the (gold, predicted) pairs that differ, most frequent
	// first, then by gold and predicted intent.
	Confusion []Confusion `json:"confusion"`
	// Misclassified holds every wrongly predicted line, in data order.
	Misclassified []Miss `json:"misclassified"`
}

// PRF is the precision, recall and F1 score of one intent, and its support:
// the number of lines whose gold intent it is.
type PRF struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Confusion counts the lines of one gold intent predicted as another.
type Confusion struct {
	Gold      string `json:"gold"`
	Predicted string `json:"predicted"`
	Count     int    `json:"count"`
}

// Miss is one wrongly predicted line.
type Miss struct {
	Text       string  `json:"text"`
	Gold       string  `json:"gold"`
	Predicted  string  `json:"predicted"`
	Confidence float64 `json:"confidence"`
}

// Evaluate classifies every line of data and compares with its gold intent.
func Evaluate(m *Model, data []Example) Report {
	r := Report{N: len(data), Threshold: m.Threshold(), PerIntent: map[string]PRF{}}
	type counts struct{ tp, fp, fn int }
	per := map[string]*counts{}
	get := func(name string) *counts {
		c := per[name]
		if c == nil {
			c = &counts{}
			per[name] = c
		}
		return c
	}
	confused := map[[2]string]int{}
	correct, inCorrect, oosCorrect := 0, 0, 0
	for _, ex := range data {
		res := m.Classify(ex.Text)
		gold := ex.Intent
		if gold == OutOfScope {
			r.NOutOfScope++
		} else {
			r.NInScope++
		}
		if res.Intent == gold {
			correct++
			get(gold).tp++
			if gold == OutOfScope {
				oosCorrect++
			} else {
				inCorrect++
			}
			continue
		}
		get(gold).fn++
		get(res.Intent).fp++
		confused[[2]string{gold, res.Intent}]++
		r.Misclassified = append(r.Misclassified, Miss{Text: ex.Text, Gold: gold, Predicted: res.Intent, Confidence: res.Confidence})
	}
	r.Accuracy = ratio(correct, r.N)
	r.InScopeAccuracy = ratio(inCorrect, r.NInScope)
	r.OOSRecall = ratio(oosCorrect, r.NOutOfScope)
	for name, c := range per {
		p, rec := ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn)
		f := 0.0
		if p+rec > 0 {
			f = 2 * p * rec / (p + rec)
		}
		r.PerIntent[name] = PRF{Precision: p, Recall: rec, F1: f, Support: c.tp + c.fn}
	}
	for pair, n := range confused {
		r.Confusion = append(r.Confusion, Confusion{Gold: pair[0], Predicted: pair[1], Count: n})
	}
	slices.SortFunc(r.Confusion, func(a, b Confusion) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if c := strings.Compare(a.Gold, b.Gold); c != 0 {
			return c
		}
		return strings.Compare(a.Predicted, b.Predicted)
	})
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// maxConfusionLines is how many confused pairs WriteText lists.
const maxConfusionLines = 20

// WriteText writes the report for people: accuracy (and in-scope accuracy
// and out-of-scope recall when the data has OutOfScope lines), a table of
// precision, recall, F1 and support per intent, the most confused pairs, and
// every misclassified line with its confidence.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "lines: %d\naccuracy: %.4f\n", r.N, r.Accuracy)
	if r.NOutOfScope > 0 {
		fmt.Fprintf(&b, "in-scope accuracy: %.4f (%d lines)\nout-of-scope recall: %.4f (%d lines)\n",
			r.InScopeAccuracy, r.NInScope, r.OOSRecall, r.NOutOfScope)
	}
	fmt.Fprintf(&b, "threshold: %.4f\n\n", r.Threshold)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "intent\tprecision\trecall\tf1\tsupport\t")
	names := make([]string, 0, len(r.PerIntent))
	for name := range r.PerIntent {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := r.PerIntent[name]
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%d\t\n", name, p.Precision, p.Recall, p.F1, p.Support)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Confusion) > 0 {
		fmt.Fprintf(&b, "\nmost confused (gold -> predicted):\n")
		for i, c := range r.Confusion {
			if i == maxConfusionLines {
				fmt.Fprintf(&b, "  ... %d more pairs\n", len(r.Confusion)-i)
				break
			}
			fmt.Fprintf(&b, "  %4d  %s -> %s\n", c.Count, c.Gold, c.Predicted)
		}
	}
	if len(r.Misclassified) > 0 {
		fmt.Fprintf(&b, "\nmisclassified (%d):\n", len(r.Misclassified))
		for _, m := range r.Misclassified {
			fmt.Fprintf(&b, "  %.3f  %s -> %s  %q\n", m.Confidence, m.Gold, m.Predicted, m.Text)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
