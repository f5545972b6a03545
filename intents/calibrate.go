package intents

import (
	"cmp"
	"math"
	"slices"
)

// A model's probabilities come from its scores in two steps:
//
//  1. temperature scaling: p = softmax(scores / T), T fitted on held-out
//     data by Calibrate (T = 1 until then);
//  2. coverage: every in-scope probability is multiplied by coverage^β,
//     where coverage is the share of the text's tokens that the model
//     recognises (see Model.score) and β is Options.CoveragePower. The mass
//     taken away goes to out-of-scope.
//
// This gives one distribution over the intents and out-of-scope:
// P(intent) = coverage^β · p(intent), P(out of scope) = 1 − coverage^β · (1 −
// p(out_of_scope)), where p(out_of_scope) is 0 when training data had no such
// class. Result.Confidence is P of the best in-scope intent; Model.rejects
// is the out-of-scope rule.

// valLine is a held-out line scored once: raw scores, coverage, gold class.
type valLine struct {
	scores   []float64
	coverage float64
	gold     int // class index, or -1 for OutOfScope when the model has no such class
}

func (m *Model) scoreAll(val []Example) []valLine {
	idx := map[string]int{}
	for i, c := range m.classes {
		idx[c] = i
	}
	lines := make([]valLine, len(val))
	inParts(len(val), func(lo, hi int) {
		s := m.getScratch()
		defer m.pool.Put(s)
		for i := lo; i < hi; i++ {
			ex := val[i]
			cov := m.score(s, ex.Text)
			gold, ok := idx[ex.Intent]
			if !ok {
				gold = -1
				if ex.Intent != OutOfScope {
					gold = -2 // an intent the model does not know: always wrong
				}
			}
			lines[i] = valLine{scores: slices.Clone(s.scores), coverage: cov, gold: gold}
		}
	})
	return lines
}

// nll is the negative log-likelihood of the gold labels at temperature T.
// Its softmax is softmax32's float32 arithmetic: fitCalibration evaluates it
// a few dozen times over every held-out line at start-up, and a likelihood
// needs no more precision.
func (m *Model) nll(lines []valLine, T float64, buf []float32) float64 {
	sum := 0.0
	inv := 1 / T
	for _, l := range lines {
		if l.gold == -2 { // unknown intent: no likelihood
			continue
		}
		for c, v := range l.scores {
			buf[c] = float32(v * inv)
		}
		softmax32(buf)
		g := m.coverageFactor(l.coverage)
		var p float64
		if l.gold == -1 || l.gold == m.oos {
			pOOS := 0.0
			if m.oos >= 0 {
				pOOS = float64(buf[m.oos])
			}
			p = 1 - g*(1-pOOS)
		} else {
			p = g * float64(buf[l.gold])
		}
		sum -= math.Log(max(p, 1e-12))
	}
	return sum
}

// Calibrate fits the model's softmax temperature to held-out labelled data
// by maximum likelihood of their labels under the distribution described at
// the top of calibrate.go, so that confidences are calibrated probabilities.
// Lines with intents the model does not know are skipped; without other
// lines the model is left as it is. TuneThreshold calibrates too. Calibrate
// may run while other goroutines classify.
func Calibrate(m *Model, val []Example) {
	T, ok := m.fitCalibration(m.scoreAll(val))
	if !ok {
		return
	}
	m.updateCalibration(func(c *calibration) { c.temperature = T })
}

// fitCalibration returns the temperature in [0.02, 50] that maximises the
// likelihood of the lines' gold labels, and false when no line has a gold
// label the model knows.
func (m *Model) fitCalibration(lines []valLine) (float64, bool) {
	if !slices.ContainsFunc(lines, func(l valLine) bool { return l.gold != -2 }) {
		return 0, false
	}
	buf := make([]float32, len(m.classes))
	logT := goldenMin(math.Log(0.02), math.Log(50), func(x float64) float64 {
		return m.nll(lines, math.Exp(x), buf)
	})
	return math.Exp(logT), true
}

// goldenMin returns the minimiser of f on [a, b] by golden-section search,
// assuming f is unimodal there.
func goldenMin(a, b float64, f func(float64) float64) float64 {
	const invPhi = 0.6180339887498949
	c, d := b-invPhi*(b-a), a+invPhi*(b-a)
	fc, fd := f(c), f(d)
	for range 20 {
		if fc <= fd {
			b, d, fd = d, c, fc
			c = b - invPhi*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + invPhi*(b-a)
			fd = f(d)
		}
	}
	return (a + b) / 2
}

// TuneThreshold calibrates the model on val (see Calibrate), then sets and
// returns the rejection threshold chosen by this rule: the threshold that
// maximises the F1 score of OutOfScope on val, where a line counts as
// predicted OutOfScope when Classify would reject it; ties go to the lower
// threshold. Candidates are 0 and the confidences of val's lines. When val has
// no OutOfScope lines, F1 is undefined and the threshold is left as it was.
// Like SetThreshold, it may run while other goroutines classify.
func TuneThreshold(m *Model, val []Example) float64 {
	lines := m.scoreAll(val)
	T, ok := m.fitCalibration(lines)
	if !ok {
		T = m.calib.Load().temperature
	}
	threshold := m.Threshold()

	type point struct {
		conf   float64
		forced bool // rejected whatever the threshold
		oos    bool // gold is OutOfScope
	}
	pts := make([]point, 0, len(lines))
	nOOS := 0
	buf := make([]float64, len(m.classes))
	for i, l := range lines {
		copy(buf, l.scores)
		softmax(buf, T)
		g := m.coverageFactor(l.coverage)
		best := 0.0
		for c, p := range buf {
			if c != m.oos {
				best = max(best, p)
			}
		}
		conf := clamp01(g * best)
		// forced: rejected at any threshold, even 0.
		forced := m.rejects(conf, m.oosProbability(buf, g), l.coverage, 0)
		p := point{conf: conf, forced: forced, oos: val[i].Intent == OutOfScope}
		if p.oos {
			nOOS++
		}
		pts = append(pts, p)
	}
	if nOOS > 0 {
		slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.conf, b.conf) })
		// Sweep the threshold up through the sorted confidences: at
		// threshold pts[k].conf, the lines below it are rejected.
		tp, fp := 0, 0
		for _, p := range pts {
			if p.forced {
				if p.oos {
					tp++
				} else {
					fp++
				}
			}
		}
		bestF1, bestT := f1(tp, fp, nOOS-tp), 0.0
		for k := 0; k < len(pts); {
			t := pts[k].conf
			// Lines with confidence exactly t are not rejected at t.
			if f := f1(tp, fp, nOOS-tp); f > bestF1 {
				bestF1, bestT = f, t
			}
			for k < len(pts) && pts[k].conf == t {
				if !pts[k].forced {
					if pts[k].oos {
						tp++
					} else {
						fp++
					}
				}
				k++
			}
		}
		threshold = bestT
	}
	m.calib.Store(&calibration{temperature: T, threshold: threshold})
	return threshold
}

func f1(tp, fp, fn int) float64 {
	if tp == 0 {
		return 0
	}
	return 2 * float64(tp) / float64(2*tp+fp+fn)
}
