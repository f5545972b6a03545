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

// weight is an option's weight for a cause: 1 when the option does not
// list the cause.
func weight(o *kb.Option, cause string) float64 {
	if x, ok := o.Weights[cause]; ok {
		return x
	}
	return 1
}

// likelihood is P(answer | cause) for one triage question: each option's
// weight for the cause, normalised over the options.
func likelihood(q *kb.Question, option, cause string) float64 {
	sum, w := 0.0, 0.0
	for i := range q.Options {
		v := weight(&q.Options[i], cause)
		sum += v
		if q.Options[i].ID == option {
			w = v
		}
	}
	if sum == 0 {
		return 0
	}
	return w / sum
}

// posterior updates a belief with the answer to a triage question.
func posterior(b map[string]float64, q *kb.Question, option string) map[string]float64 {
	out := make(map[string]float64, len(b))
	for id, p := range b {
		out[id] = p * likelihood(q, option, id)
	}
	normalizeBelief(out)
	return out
}

// minGain is the information gain (bits) below which a question is not
// worth asking.
const minGain = 0.02

// nextQuestion returns the unasked triage question with the largest
// expected information gain over the current belief, or nil when no
// question is worth asking. Ties go to the question listed first.
//
// It computes what likelihood and posterior would, without a map per
// answer: the belief is read once into slices, and each question's
// likelihoods are computed per cause in one pass over its options.
func nextQuestion(k *kb.KB, b map[string]float64, asked []string) *kb.Question {
	ids := make([]string, 0, len(b))
	ps := make([]float64, 0, len(b))
	for id, p := range b {
		ids = append(ids, id)
		ps = append(ps, p)
	}
	h := entropy(ps)
	n := len(ids)
	var like, post []float64
	var best *kb.Question
	bestGain := minGain
	for i := range k.Triage.Questions {
		q := &k.Triage.Questions[i]
		if slices.Contains(asked, q.ID) {
			continue
		}
		like = likelihoods(like, q, ids)
		expected := 0.0
		for o := range q.Options {
			l := like[o*n : (o+1)*n]
			po := 0.0
			for j, p := range ps {
				po += p * l[j]
			}
			if po > 0 {
				post = append(post[:0], ps...)
				for j := range post {
					post[j] *= l[j]
				}
				normalizeSlice(post)
				expected += po * entropy(post)
			}
		}
		if gain := h - expected; gain > bestGain {
			best, bestGain = q, gain
		}
	}
	return best
}

// likelihoods fills dst (reused when big enough) with likelihood(q,
// option, cause) for every option of q and every cause of ids: the value
// for option o and cause j at o*len(ids)+j.
func likelihoods(dst []float64, q *kb.Question, ids []string) []float64 {
	n, no := len(ids), len(q.Options)
	if cap(dst) < n*no {
		dst = make([]float64, n*no)
	}
	dst = dst[:n*no]
	for j, cause := range ids {
		sum := 0.0
		for o := range q.Options {
			v := weight(&q.Options[o], cause)
			sum += v
			dst[o*n+j] = v
		}
		for o := range no {
			if sum == 0 {
				dst[o*n+j] = 0
			} else {
				dst[o*n+j] /= sum
			}
		}
	}
	return dst
}

// normalizeSlice is normalizeBelief over a slice.
func normalizeSlice(b []float64) {
	sum := 0.0
	for _, v := range b {
		sum += v
	}
	if sum <= 0 {
		return
	}
	for i, v := range b {
		b[i] = v / sum
	}
}

// entropy is the entropy, in bits, of a belief given as its probabilities.
func entropy(b []float64) float64 {
	h := 0.0
	for _, p := range b {
		if p > 0 {
			h -= p * math.Log2(p)
		}
	}
	return h
}
