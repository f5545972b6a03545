package intents

import (
	"math"
	"sync"
	"sync/atomic"
)

// OutOfScope is the intent of text that belongs to none of the trained
// intents: the label of such lines in training data, and the Intent of a
// rejected [Result].
const OutOfScope = "out_of_scope"

// maxTokens bounds the tokens of one text that Classify reads; the rest of a
// longer text is ignored.
const maxTokens = 1024

// maxRanked is the number of alternatives in Result.Ranked.
const maxRanked = 5

// defaultThreshold is the rejection threshold of a model before
// TuneThreshold or SetThreshold.
const defaultThreshold = 0.3

// Scored is an intent with its confidence.
type Scored struct {
	Intent     string  `json:"intent"`
	Confidence float64 `json:"confidence"`
}

// Result is what Classify makes of a text.
type Result struct {
	// Intent is the best in-scope intent, or OutOfScope when the text is
	// rejected.
	Intent string `json:"intent"`
	// Confidence is the calibrated probability that the best in-scope
	// intent is right, in [0, 1]; it is set even when the text is rejected.
	Confidence float64 `json:"confidence"`
	// Ranked holds the best in-scope intents, at most 5, best first, with
	// their calibrated probabilities. Ranked[0] is the best in-scope intent.
	Ranked []Scored `json:"ranked"`
	// OutOfScope reports whether the text was rejected: the model saw none
	// of its tokens in training, or its Confidence is below the threshold,
	// or (for a model trained with out_of_scope lines) out-of-scope is more
	// probable than the best intent.
	OutOfScope bool `json:"out_of_scope"`
}

// Model is a trained intent classifier. Classify is safe for concurrent use;
// SetThreshold and TuneThreshold may run alongside it (the model swaps its
// calibration atomically).
type Model struct {
	classes []string // all classes, sorted; may include OutOfScope
	intents []string // the in-scope classes
	oos     int      // index of OutOfScope in classes, or -1
	opts    Options

	table featTable // feature hash → row
	nrows int
	rowW  []float32 // the weight of each feature before normalisation
	// The weights: row r holds classes rowCls[rowStart[r]:rowStart[r+1]]
	// with weights rowVal[...]. A row of len(classes) entries is dense;
	// sparse rows drop weights below pruneBelow.
	rowStart []int32
	rowCls   []uint16
	rowVal   []float32
	bias     []float32 // one per class

	words map[string]int32 // training word → index into info
	info  []wordInfo
	// charVec holds, for each training word, the sum of the weight rows of
	// its character n-grams, each times the n-gram's feature weight: its
	// whole character part in one dense row of len(classes).
	charVec []float32

	typos typoIndex // training words by their one-letter deletions
	stems stemCache // stems of words unseen in training
	pool  sync.Pool // *scratch

	calib atomic.Pointer[calibration]
}

// wordInfo is what a training word contributes, worked out once at training.
type wordInfo struct {
	stem   uint64  // hash of its stem: its unigram feature
	charSq float32 // squared norm of its character n-gram features
}

// calibration turns scores into calibrated probabilities and decides
// rejection: see TuneThreshold.
type calibration struct {
	temperature float64 // softmax temperature
	threshold   float64
}

// scratch holds the buffers of one Classify call.
type scratch struct {
	tz     tokenizer
	info   []int32  // per token: index into Model.info, or -1
	stems  []uint64 // per token: hash of its stem
	rows   []int32
	acc    []float32 // class scores, accumulated
	scores []float64
	del    []byte // scratch for typoMatch
}

// Intents returns the in-scope intents the model knows, sorted. It does not
// include OutOfScope.
func (m *Model) Intents() []string {
	return append([]string(nil), m.intents...)
}

// Threshold returns the confidence below which Classify rejects a text as
// out of scope.
func (m *Model) Threshold() float64 { return m.calib.Load().threshold }

// SetThreshold sets the rejection threshold (see Threshold). It is safe to
// call while other goroutines classify.
func (m *Model) SetThreshold(t float64) {
	if math.IsNaN(t) {
		return
	}
	t = min(max(t, 0), 1)
	m.updateCalibration(func(c *calibration) { c.threshold = t })
}

// updateCalibration replaces the calibration with a copy changed by fn,
// without losing a change another goroutine makes at the same time.
func (m *Model) updateCalibration(fn func(*calibration)) {
	for {
		old := m.calib.Load()
		c := *old
		fn(&c)
		if m.calib.CompareAndSwap(old, &c) {
			return
		}
	}
}

func (m *Model) getScratch() *scratch {
	if s, ok := m.pool.Get().(*scratch); ok {
		return s
	}
	return &scratch{scores: make([]float64, len(m.classes)), acc: make([]float32, len(m.classes))}
}

// Classify returns the intent of text with its confidence and the best
// alternatives. It never panics, whatever the text; empty text, text in
// another language or words the model never saw give low confidence and are
// likely rejected as OutOfScope.
//
// The text is normalised as by [Normalize], except that an elongated word is
// squeezed to the first of its forms that the model saw in training, and,
// with [Options.TypoMinLength], a word unseen in training that is one edit
// away from a training word is read as that word. Only the first 1024 tokens
// are read.
func (m *Model) Classify(text string) Result {
	s := m.getScratch()
	defer m.pool.Put(s)
	cal := m.calib.Load()
	coverage := m.score(s, text)
	p := s.scores
	softmax(p, cal.temperature)

	// The best in-scope classes, by insertion into a short sorted list;
	// ties keep class order.
	var top [maxRanked]int
	n := 0
	for c, pc := range p {
		if c == m.oos {
			continue
		}
		if n < maxRanked {
			n++
		} else if pc <= p[top[n-1]] {
			continue
		}
		j := n - 1
		for j > 0 && pc > p[top[j-1]] {
			top[j] = top[j-1]
			j--
		}
		top[j] = c
	}
	g := m.coverageFactor(coverage)
	ranked := make([]Scored, n)
	for i, c := range top[:n] {
		ranked[i] = Scored{Intent: m.classes[c], Confidence: clamp01(g * p[c])}
	}
	res := Result{Intent: ranked[0].Intent, Confidence: ranked[0].Confidence, Ranked: ranked}
	if m.rejects(res.Confidence, m.oosProbability(p, g), coverage, cal.threshold) {
		res.Intent, res.OutOfScope = OutOfScope, true
	}
	return res
}

// oosProbability is the calibrated probability of out-of-scope, given the
// probabilities p at the calibrated temperature and the coverage factor g.
func (m *Model) oosProbability(p []float64, g float64) float64 {
	return clamp01(1 - g*(1-m.oosProb(p)))
}

// rejects is the out-of-scope rule: a text is rejected when the model saw
// none of its tokens in training, when its confidence is below the
// threshold, or, for a model trained with out_of_scope lines, when
// out-of-scope is more probable than the best intent.
func (m *Model) rejects(conf, pOOS, coverage, threshold float64) bool {
	return coverage == 0 || conf < threshold || (m.oos >= 0 && pOOS > conf)
}

func (m *Model) oosProb(p []float64) float64 {
	if m.oos < 0 {
		return 0
	}
	return p[m.oos]
}

func clamp01(x float64) float64 {
	if !(x >= 0) { // also NaN
		return 0
	}
	return min(x, 1)
}

// score fills s.scores with the raw class scores of text and returns its
// coverage: the share of its tokens that the model recognises, (known + a) /
// (n + a) for n tokens of which known have a stem the model saw in training
// or were read as a training word (see typoMatch), a being
// Options.CoveragePrior; 0 when known is 0. The prior count a pulls the
// coverage of a short text towards 1: one unknown word in two says little.
func (m *Model) score(s *scratch, text string) float64 {
	s.tz.run(text, m.words, maxTokens)
	s.rows = s.rows[:0]
	o := &m.opts
	known := 0
	s.info = s.info[:0]
	s.stems = s.stems[:0]
	for _, t := range s.tz.toks {
		b := s.tz.out[t.start:t.end]
		var sh uint64
		i, ok := m.words[string(b)]
		if ok {
			sh = m.info[i].stem
		} else {
			i = -1
			sh = m.stems.get(b)
		}
		switch {
		case m.table.get(sh) >= 0:
			known++
		case !ok:
			if j := m.typoMatch(b, &s.del); j >= 0 {
				known++
				i, sh = j, m.info[j].stem
			}
		}
		s.info = append(s.info, i)
		s.stems = append(s.stems, sh)
	}
	// Word part: stems and bigrams.
	wordHashes(s.stems, func(h uint64) {
		if r := m.table.get(h); r >= 0 {
			s.rows = append(s.rows, r)
		}
	})
	nWord := len(s.rows)
	// Character part: precomputed for the training words, row by row for
	// the others.
	var sw, sc float64
	for k, t := range s.tz.toks {
		if i := s.info[k]; i >= 0 {
			sc += float64(m.info[i].charSq)
			continue
		}
		charGrams(s.tz.out[t.start:t.end], o.CharMin, o.CharMax, func(h uint64) {
			if r := m.table.get(h); r >= 0 {
				s.rows = append(s.rows, r)
			}
		})
	}
	for k, r := range s.rows {
		x := float64(m.rowW[r])
		if k < nWord {
			sw += x * x
		} else {
			sc += x * x
		}
	}
	vw, vc := partScales(sw, sc, o.CharWeight)

	nc := len(m.classes)
	acc := s.acc[:nc]
	copy(acc, m.bias)
	for k, r := range s.rows {
		v := vw
		if k >= nWord {
			v = vc
		}
		v *= m.rowW[r]
		lo, hi := m.rowStart[r], m.rowStart[r+1]
		vals := m.rowVal[lo:hi]
		if len(vals) == nc {
			axpy(acc, vals, v)
			continue
		}
		for j, c := range m.rowCls[lo:hi] {
			acc[c] += v * vals[j]
		}
	}
	if vc != 0 {
		for _, i := range s.info {
			if i >= 0 && m.info[i].charSq > 0 {
				axpy(acc, m.charVec[int(i)*nc:int(i+1)*nc], vc)
			}
		}
	}
	for c, a := range acc {
		s.scores[c] = float64(a)
	}
	if known == 0 {
		return 0
	}
	return (float64(known) + o.CoveragePrior) / (float64(len(s.tz.toks)) + o.CoveragePrior)
}

// coverageFactor is coverage^β, the factor of every in-scope probability.
func (m *Model) coverageFactor(coverage float64) float64 {
	switch β := m.opts.CoveragePower; β {
	case 0:
		return 1
	case 1:
		return coverage
	default:
		return math.Pow(coverage, β)
	}
}

// axpy adds a·x to y; len(x) must be len(y).
//
// It is a numeric kernel exempt from the race detector's instrumentation,
// which slows training tenfold: it reads and writes only the slices it is
// given. Races on them are caught where they are written elsewhere.
//
//go:norace
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}
