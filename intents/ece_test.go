package intents

// ece is the expected calibration error of the model's confidences on data,
// over 10 equal-width bins: the mean, weighted by the bins' sizes, of
// |mean confidence − share of lines whose best in-scope intent is right|.
// A line labelled OutOfScope has no right in-scope intent.
func ece(m *Model, data []Example) float64 {
	const bins = 10
	var n [bins]int
	var conf, right [bins]float64
	for _, ex := range data {
		r := m.Classify(ex.Text)
		b := min(int(r.Confidence*bins), bins-1)
		n[b]++
		conf[b] += r.Confidence
		if r.Ranked[0].Intent == ex.Intent {
			right[b]++
		}
	}
	e := 0.0
	for b := range bins {
		if n[b] > 0 {
			d := conf[b] - right[b]
			if d < 0 {
				d = -d
			}
			e += d / float64(len(data))
		}
	}
	return e
}
