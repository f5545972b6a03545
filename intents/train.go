package intents

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Options are the hyper-parameters of [Train]. The zero value gives the
// defaults, chosen on CLINC150's train and validation sets.
type Options struct {
	// Epochs is the number of passes of stochastic gradient descent over the
	// data. Default 10.
	Epochs int
	// LearningRate is the step size of stochastic gradient descent; feature
	// vectors have unit length. Default 4.
	LearningRate float64
	// CharMin and CharMax bound the length of the character n-grams taken
	// from each word. Defaults 3 and 5; a negative CharMax leaves character
	// n-grams out.
	CharMin, CharMax int
	// CharWeight is the weight of the character n-gram part of a feature
	// vector relative to its word part (stems and stem bigrams). Default 1.
	CharWeight float64
	// MinCount is the number of training lines a feature must occur in to be
	// kept. Default 1.
	MinCount int
	// CoveragePower is the exponent β of coverage, the share of a text's
	// tokens whose stem the model saw in training, in the confidence: every
	// in-scope probability is multiplied by coverage^β (see Calibrate).
	// Default 1; negative for 0, which ignores coverage.
	CoveragePower float64
	// Ensemble is the number of models, trained on differently shuffled
	// data in parallel, whose weights are averaged into the final one.
	// Default 2, which reduces the variance from shuffling.
	Ensemble int
	// Seed seeds the shuffling of the training lines. Default 1. Training is
	// deterministic: the same data and options give the same model.
	Seed uint64

	// MinGradient is the magnitude below which an entry of the gradient is
	// skipped in a step of stochastic gradient descent: the weights of
	// classes the model already gets right are left alone. Default 1e-4,
	// measured harmless on CLINC150 and twice as fast as none; larger values
	// train faster still (1e-2 about twice as fast again) and may cost some
	// accuracy.
	MinGradient float64
	// CoveragePrior is the prior count a of coverage: a text of n tokens of
	// which k are known has coverage (k + a) / (n + a), or 0 when k is 0.
	// It keeps one unknown word from sinking a short text: "hi pal" with
	// "pal" unknown has coverage ½ without it, ⅔ with a = 1, and a model
	// trained with out_of_scope lines rejects any text of coverage ½ or less
	// (see Calibrate). Default 0; negative for 0.
	CoveragePrior float64
	// TypoMinLength turns typo matching on: a word unseen in training, of
	// letters a-z, that is one edit away from a training word of at least
	// TypoMinLength letters (a letter dropped, added or changed, or two
	// swapped) is read as that word, and counted as known (see
	// Model.Classify). Default 0, off.
	TypoMinLength int

	// NoIDF weighs all features alike instead of by their inverse document
	// frequency, 1 + ln((n+1)/(df+1)) for a feature in df of n lines.
	NoIDF bool
}

func (o Options) withDefaults() Options {
	if o.Epochs <= 0 {
		o.Epochs = 10
	}
	if o.LearningRate <= 0 {
		o.LearningRate = 4
	}
	if o.CharMin <= 0 {
		o.CharMin = 3
	}
	if o.CharMax == 0 {
		o.CharMax = 5
	}
	if o.CharMax > 0 && o.CharMax < o.CharMin {
		o.CharMax = o.CharMin
	}
	if o.CharWeight <= 0 {
		o.CharWeight = 1
	}
	if o.MinCount <= 0 {
		o.MinCount = 1
	}
	switch {
	case o.CoveragePower == 0:
		o.CoveragePower = 1
	case o.CoveragePower < 0:
		o.CoveragePower = 0
	}
	o.CoveragePrior = max(o.CoveragePrior, 0)
	o.TypoMinLength = max(o.TypoMinLength, 0)
	if o.MinGradient <= 0 {
		o.MinGradient = 1e-4
	}
	if o.Ensemble <= 0 {
		o.Ensemble = 2
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// sample is one training line as sparse feature rows and values.
type sample struct {
	rows  []int32
	vals  []float32
	class int32
}

// Train fits a model on labelled examples. It fails on empty data, on an
// example with an empty intent, and on data with fewer than two intents
// (counting [OutOfScope]). Examples labelled OutOfScope train a class of
// their own, which Classify never returns as an intent but rejects with.
func Train(examples []Example, opts Options) (*Model, error) {
	if len(examples) == 0 {
		return nil, errors.New("intents: train: no examples")
	}
	o := opts.withDefaults()
	classOf := map[string]int32{}
	for i, ex := range examples {
		if ex.Intent == "" {
			return nil, fmt.Errorf("intents: train: example %d: empty intent", i+1)
		}
		classOf[ex.Intent] = 0
	}
	if len(classOf) < 2 {
		return nil, fmt.Errorf("intents: train: need at least 2 intents, got %d", len(classOf))
	}
	if len(classOf) > math.MaxUint16 {
		return nil, fmt.Errorf("intents: train: %d intents, more than %d", len(classOf), math.MaxUint16)
	}
	m := &Model{opts: o, oos: -1}
	for name := range classOf {
		m.classes = append(m.classes, name)
	}
	slices.Sort(m.classes)
	for i, name := range m.classes {
		classOf[name] = int32(i)
		if name == OutOfScope {
			m.oos = i
		} else {
			m.intents = append(m.intents, name)
		}
	}

	// Tokens of every line as indices into words, the distinct words.
	lines, words, counts := tokenizeAll(examples)
	stems := stemAll(words)
	stemHash := make([]uint64, len(words))
	for i := range words {
		stemHash[i] = hashString(seedUni, stems[i])
	}

	// The features of every line (see featureIDs) as ids numbered in order
	// of first appearance, and the lines each occurs in; then rows for those
	// in at least MinCount lines, in the same order.
	feats, nword, hashes, chars, df := featuresAll(lines, words, stemHash, o)
	rowOf := make([]int32, len(hashes))
	var kept []uint64
	for id, h := range hashes {
		rowOf[id] = -1
		if c := df[id]; c >= int32(o.MinCount) {
			rowOf[id] = int32(len(kept))
			kept = append(kept, h)
			w := float32(1)
			if !o.NoIDF {
				w = float32(1 + math.Log(float64(len(examples)+1)/float64(c+1)))
			}
			m.rowW = append(m.rowW, w)
		}
	}
	m.nrows = len(kept)
	m.table = newFeatTable(m.nrows)
	for r, h := range kept {
		m.table.put(h, int32(r))
	}

	data := make([]sample, len(examples))
	inParts(len(data), func(lo, hi int) {
		var vals slab[float32]
		for i := lo; i < hi; i++ {
			data[i] = m.sample(feats[i], rowOf, nword[i], &vals)
			data[i].class = classOf[examples[i].Intent]
		}
	})

	var wg sync.WaitGroup
	wg.Go(func() { m.typos = newTypoIndex(words, counts, o.TypoMinLength) })
	W := fitEnsemble(data, m.nrows, len(m.classes), o)
	wg.Go(func() { m.setWords(words, stemHash, chars, rowOf, W) })
	m.setWeights(W)
	wg.Wait()
	m.calib.Store(&calibration{temperature: 1, threshold: defaultThreshold})
	return m, nil
}

// pruneBelow is the magnitude below which trained weights are dropped from
// sparse rows. Feature vectors have unit length, so the dropped weights move
// a score by at most pruneBelow·√(number of features). On CLINC150 about
// three quarters of the weights are below it; dropping them changed neither
// accuracy nor out-of-scope detection on the validation set.
const pruneBelow = 0.01

// setWeights stores the dense weights of fit, nrows feature rows then a bias
// row: a row with weights for at least half the classes stays dense (all
// classes, in order), others keep only their non-zero weights.
func (m *Model) setWeights(W []float32) {
	nc := len(m.classes)
	m.rowStart = make([]int32, m.nrows+1)
	kept := make([]int32, m.nrows) // weights kept per row
	total := 0
	for r := range m.nrows {
		n := 0
		for _, w := range W[r*nc : (r+1)*nc] {
			if w >= pruneBelow || w <= -pruneBelow {
				n++
			}
		}
		if 2*n >= nc {
			n = nc
		}
		kept[r] = int32(n)
		total += n
	}
	m.rowCls = make([]uint16, 0, total)
	m.rowVal = make([]float32, 0, total)
	for r := range m.nrows {
		row := W[r*nc : (r+1)*nc]
		dense := kept[r] == int32(nc)
		for c, w := range row {
			if dense || w >= pruneBelow || w <= -pruneBelow {
				m.rowCls = append(m.rowCls, uint16(c))
				m.rowVal = append(m.rowVal, w)
			}
		}
		m.rowStart[r+1] = int32(len(m.rowCls))
	}
	m.bias = slices.Clone(W[m.nrows*nc:])
}

// setWords records what each training word contributes (see wordInfo and
// Model.charVec), from the dense weights of fit: words[i] has the stem hash
// stemHash[i] and the character n-gram feature ids chars[i], which have rows
// rowOf.
func (m *Model) setWords(words []string, stemHash []uint64, chars [][]int32, rowOf []int32, W []float32) {
	nc := len(m.classes)
	m.words = make(map[string]int32, len(words))
	m.info = make([]wordInfo, len(words))
	m.charVec = written(make([]float32, len(words)*nc))
	for i, w := range words {
		m.words[w] = int32(i)
		wi := wordInfo{stem: stemHash[i]}
		vec := m.charVec[i*nc : (i+1)*nc]
		for _, id := range chars[i] {
			if r := rowOf[id]; r >= 0 {
				x := m.rowW[r]
				wi.charSq += x * x
				axpy(vec, W[int(r)*nc:int(r+1)*nc], x)
			}
		}
		m.info[i] = wi
	}
}

// stemAll stems the words on all cores; the result does not depend on how
// the work is shared.
func stemAll(words []string) []string {
	out := make([]string, len(words))
	inParts(len(words), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = stem(words[i])
		}
	})
	return out
}

// featureIDs numbers the features of training lines in order of first
// appearance, reading each line's word part (see wordHashes) then the
// character n-grams of its words in order. A word's character n-grams are
// hashed once, the first time the word is read.
type featureIDs struct {
	words    []string
	stemHash []uint64 // by word
	o        Options
	ids      idTable
	hashes   []uint64  // by feature id
	chars    [][]int32 // by word: its character n-gram ids, once read
	stems    []uint64  // scratch
	slab     slab[int32]
}

func newFeatureIDs(words []string, stemHash []uint64, o Options) *featureIDs {
	return &featureIDs{words: words, stemHash: stemHash, o: o, chars: make([][]int32, len(words))}
}

func (f *featureIDs) id(h uint64) int32 {
	id, added := f.ids.get(h, int32(len(f.hashes)))
	if added {
		f.hashes = append(f.hashes, h)
	}
	return id
}

// line returns the feature ids of a line of word indices, the word part
// first, with repeats; and the length of the word part.
func (f *featureIDs) line(line []int32) ([]int32, int) {
	f.stems = f.stems[:0]
	for _, w := range line {
		f.stems = append(f.stems, f.stemHash[w])
	}
	n := 2*len(line) + 1
	for _, w := range line {
		if f.chars[w] == nil {
			ids := []int32{}
			charGrams([]byte(f.words[w]), f.o.CharMin, f.o.CharMax, func(h uint64) { ids = append(ids, f.id(h)) })
			f.chars[w] = ids
		}
		n += len(f.chars[w])
	}
	out := f.slab.take(n)[:0]
	wordHashes(f.stems, func(h uint64) { out = append(out, f.id(h)) })
	nw := len(out)
	for _, w := range line {
		out = append(out, f.chars[w]...)
	}
	return out, nw
}

// wordHashes calls emit with the hash of every word-part feature of a line
// whose tokens have the stem hashes stems: each stem, and each pair of stems
// in a row, the line's start and end included.
func wordHashes(stems []uint64, emit func(uint64)) {
	prev := uint64(bosHash)
	for _, s := range stems {
		emit(s)
		emit(pairHash(prev, s))
		prev = s
	}
	emit(pairHash(prev, eosHash))
}

// sample turns feature ids into weighted rows (see partScales); the first
// nw ids are the word part, the rest the character part. Features without a
// row (rowOf -1) are dropped.
//
// The rows are written over ids, which sample reads ahead of them.
func (m *Model) sample(ids, rowOf []int32, nw int, vals *slab[float32]) sample {
	s := sample{rows: ids[:0]}
	var sw, sc float64
	nWord := 0
	for i, id := range ids {
		if r := rowOf[id]; r >= 0 {
			s.rows = append(s.rows, r)
			x := float64(m.rowW[r])
			if i < nw {
				nWord++
				sw += x * x
			} else {
				sc += x * x
			}
		}
	}
	vw, vc := partScales(sw, sc, m.opts.CharWeight)
	s.vals = vals.take(len(s.rows))
	for i, r := range s.rows {
		if i < nWord {
			s.vals[i] = m.rowW[r] * vw
		} else {
			s.vals[i] = m.rowW[r] * vc
		}
	}
	return s
}

// partScales returns the factors by which the feature weights of the word
// part and of the character part of a vector are multiplied, given the
// squared norms sw and sc of the parts: each part gets unit length, the
// character part is then scaled by charWeight, and the whole vector gets
// unit length again.
func partScales(sw, sc, charWeight float64) (float32, float32) {
	var ww, wc, norm float64
	if sw > 0 {
		ww = 1 / math.Sqrt(sw)
		norm++
	}
	if sc > 0 {
		wc = charWeight / math.Sqrt(sc)
		norm += charWeight * charWeight
	}
	if norm == 0 {
		return 0, 0
	}
	norm = 1 / math.Sqrt(norm)
	return float32(ww * norm), float32(wc * norm)
}

// fit trains multinomial logistic regression by stochastic gradient descent
// and returns the average of the weights at snapshotsPerEpoch evenly spaced
// points of every epoch but the first (of every epoch when there is only
// one): nrows feature rows then a bias row, each of nclass weights.
//
// Averaging the iterates makes the result depend less on the order of the
// last steps. Snapshots cost a pass over the weights each, where a running
// average would double the memory every step touches; on CLINC150's
// validation set and leaving one writer of the KB's training data out at a
// time they were as accurate as a running average of every step.
func fit(data []sample, nrows, nclass int, o Options) []float32 {
	W := written(make([]float32, (nrows+1)*nclass))
	sum := written(make([]float32, len(W)))
	acc := make([]float32, nclass)
	grad := make([]float32, nclass)
	active := make([]int32, 0, nclass)
	order := make([]int, len(data))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	bias := W[nrows*nclass:]
	eta := float32(o.LearningRate)
	eps := float32(o.MinGradient)
	every := max(len(data)/snapshotsPerEpoch, 1)
	snapshots := 0
	// rest[i] counts the epochs sample i sits out: after a step of all
	// zeros (the model had it right to within MinGradient), the next
	// restEpochs. Leaving one writer of the KB's data out at a time, and on
	// CLINC150's validation set, this was as accurate as sitting out one
	// epoch, and BenchmarkStartup fell from 84 to 76 ms (medians).
	rest := make([]int8, len(data))
	for epoch := range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		snap := epoch > 0 || o.Epochs == 1
		for n, i := range order {
			if snap && (n+1)%every == 0 {
				axpy(sum, W, 1)
				snapshots++
			}
			if rest[i] > 0 {
				rest[i]--
				continue
			}
			s := &data[i]
			copy(acc, bias)
			forward(acc, W, s.rows, s.vals)
			softmax32(acc)
			active = active[:0]
			for c, p := range acc {
				g := -p
				if c == int(s.class) {
					g += 1
				}
				if g > eps || g < -eps {
					active = append(active, int32(c))
				} else {
					g = 0
				}
				grad[c] = g
			}
			if len(active) == 0 {
				rest[i] = restEpochs
				continue
			}
			if 2*len(active) > nclass {
				active = active[:0] // dense steps
			}
			backward(W, grad, active, s.rows, s.vals, eta)
			step(bias, grad, active, eta)
		}
	}
	if snapshots == 0 { // fewer lines than snapshots: the last weights
		return W
	}
	inv := 1 / float32(snapshots)
	for j, v := range sum {
		W[j] = v * inv
	}
	return W
}

// snapshotsPerEpoch is how often fit takes the weights into its average.
const snapshotsPerEpoch = 4

// restEpochs is how many epochs a sample the model had right sits out.
const restEpochs = 2

// fitEnsemble runs fit o.Ensemble times with different seeds, in parallel,
// and averages the weights.
func fitEnsemble(data []sample, nrows, nclass int, o Options) []float32 {
	k := max(o.Ensemble, 1)
	ws := make([][]float32, k)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			oi := o
			oi.Seed = o.Seed + uint64(i)*0x9e3779b9
			ws[i] = fit(data, nrows, nclass, oi)
		}()
	}
	wg.Wait()
	W := ws[0]
	for _, w := range ws[1:] {
		for j := range W {
			W[j] += w[j]
		}
	}
	if k > 1 {
		for j := range W {
			W[j] /= float32(k)
		}
	}
	return W
}

// forward adds to acc, of one weight per class, the weight rows of W given
// by rows, each times its value in vals: axpy for a whole sample.
//
// Like axpy, it is exempt from the race detector's instrumentation.
//
//go:norace
func forward(acc, W []float32, rows []int32, vals []float32) {
	nc := len(acc)
	vals = vals[:len(rows)]
	for k, r := range rows {
		x := W[int(r)*nc : int(r+1)*nc]
		x = x[:nc]
		a := vals[k]
		i := 0
		for ; i+4 <= nc; i += 4 {
			acc[i] += a * x[i]
			acc[i+1] += a * x[i+1]
			acc[i+2] += a * x[i+2]
			acc[i+3] += a * x[i+3]
		}
		for ; i < nc; i++ {
			acc[i] += a * x[i]
		}
	}
}

// backward takes the step of every row of a sample in W (see step), of
// len(grad) weights each.
//
// Like step, it is exempt from the race detector's instrumentation.
//
//go:norace
func backward(W, grad []float32, active, rows []int32, vals []float32, eta float32) {
	nc := len(grad)
	vals = vals[:len(rows)]
	for k, r := range rows {
		step(W[int(r)*nc:int(r+1)*nc], grad, active, eta*vals[k])
	}
}

// step adds a·grad[c] to row[c] for the classes c in active, or for all
// classes when active is empty.
//
// Like axpy, it is a numeric kernel exempt from the race detector's
// instrumentation, which slows training tenfold: it reads and writes only
// the slices it is given, which its caller owns.
//
//go:norace
func step(row, grad []float32, active []int32, a float32) {
	if len(active) == 0 {
		grad = grad[:len(row)]
		for c := range row {
			row[c] += a * grad[c]
		}
		return
	}
	for _, c := range active {
		row[c] += a * grad[c]
	}
}

// softmax32 turns scores into probabilities in place, in float32 with
// exp32: training only needs gradients, not exact probabilities, and this
// is its hottest loop after the dot products.
func softmax32(s []float32) {
	mx := s[0]
	for _, v := range s[1:] {
		mx = max(mx, v)
	}
	var sum float32
	for i, v := range s {
		e := exp32(v - mx)
		s[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range s {
		s[i] *= inv
	}
}

// exp32 is e^x for x <= 0, to a relative error below 5e-6 (0 below -87):
// 2^(x·log2 e) split into the nearest integer power of two, set in the
// exponent bits, and a Taylor polynomial of 2^f for the rest, |f| <= 1/2.
func exp32(x float32) float32 {
	if x < -87 {
		return 0
	}
	y := x * 1.442695
	i := int32(y - 0.5) // round to nearest, y being negative
	f := y - float32(i)
	p := 1 + f*(0.6931472+f*(0.2402265+f*(0.05550411+f*(0.009618129+f*(0.001333356+f*0.0001540353)))))
	return math.Float32frombits(uint32(i+127)<<23) * p
}

// softmax turns scores into probabilities in place, at temperature T.
func softmax(s []float64, T float64) {
	mx := math.Inf(-1)
	for _, v := range s {
		mx = max(mx, v)
	}
	sum := 0.0
	for i, v := range s {
		e := math.Exp((v - mx) / T)
		s[i] = e
		sum += e
	}
	for i := range s {
		s[i] /= sum
	}
}
