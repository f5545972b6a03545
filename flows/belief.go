package flows

import (
	"math"
	"slices"

	"github.com/dmdoctor/dmdoctor/kb"
)

func normalizeBelief(b map[string]float64) {
	sum := 0.0
	for _, v := range b {
		sum += v
	}
	if sum <= 0 {
		return
	}
	for k, v := range b {
		b[k] = v / sum
	}
}

// bestCause returns the most likely cause not in skip, breaking ties by ID
// so that the result does not depend on map order.
func bestCause(b map[string]float64, skip []string) (string, float64) {
	best, bp := "", -1.0
	for id, p := range b {
		if slices.Contains(skip, id) {
			continue
		}
		if p > bp || (p == bp && id < best) {
			best, bp = id, p
		}
	}
	return best, bp
}

// likelihood is P(answer | cause) for one triage question: each option's
// weight for the cause (1 when not listed), normalised over the options.
func likelihood(q *kb.Question, option, cause string) float64 {
	sum, w := 0.0, 0.0
	for _, o := range q.Options {
		v := 1.0
		if x, ok := o.Weights[cause]; ok {
			v = x
		}
		sum += v
		if o.ID == option {
			w = v
		}
	}
	if sum == 0 {
		return 0
	}
	return w / sum
}

// posterior updates a belief with the answer to a triage question.
func posterior(k *kb.KB, b map[string]float64, q *kb.Question, option string) map[string]float64 {
	out := make(map[string]float64, len(b))
	for id, p := range b {
		out[id] = p * likelihood(q, option, id)
	}
	normalizeBelief(out)
	return out
}

func entropy(b map[string]float64) float64 {
	h := 0.0
	for _, p := range b {
		if p > 0 {
			h -= p * math.Log2(p)
		}
	}
	return h
}

// minGain is the information gain (bits) below which a question is not
// worth asking.
const minGain = 0.02

// nextQuestion returns the unasked triage question with the largest
// expected information gain over the current belief, or nil when no
// question is worth asking. Ties go to the question listed first.
func nextQuestion(k *kb.KB, b map[string]float64, asked []string) *kb.Question {
	h := entropy(b)
	var best *kb.Question
	bestGain := minGain
	for i := range k.Triage.Questions {
		q := &k.Triage.Questions[i]
		if slices.Contains(asked, q.ID) {
			continue
		}
		expected := 0.0
		for _, o := range q.Options {
			po := 0.0
			for id, p := range b {
				po += p * likelihood(q, o.ID, id)
			}
			if po > 0 {
				expected += po * entropy(posterior(k, b, q, o.ID))
			}
		}
		if gain := h - expected; gain > bestGain {
			best, bestGain = q, gain
		}
	}
	return best
}
