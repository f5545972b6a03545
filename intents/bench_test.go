package intents

import (
	"sync"
	"testing"
)

// benchText is a typical chat message: some known words, a chat spelling,
// an elongated word and an emoji.
const benchText = "hiii i cant send msgs to my friend since yesterday, what do i do?? 😭"

var (
	supportModelOnce sync.Once
	supportModel     *Model
	supportModelErr  error
)

// trainedSupport returns a model trained on the whole support fixture,
// trained once per test binary.
func trainedSupport(tb testing.TB) *Model {
	tb.Helper()
	supportModelOnce.Do(func() {
		supportModel, supportModelErr = Train(supportFixture(tb), Options{})
	})
	if supportModelErr != nil {
		tb.Fatal(supportModelErr)
	}
	return supportModel
}

func BenchmarkClassify(b *testing.B) {
	m := trainedSupport(b)
	b.ReportAllocs()
	for b.Loop() {
		m.Classify(benchText)
	}
}

func BenchmarkClassifyCLINC(b *testing.B) {
	dir := clincDir(b)
	m, err := Train(readCLINC(b, dir, "train"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := "can you tell me how to say i do not speak much spanish, in spanish pleasee"
	b.ReportAllocs()
	for b.Loop() {
		m.Classify(text)
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Normalize(benchText)
	}
}

func BenchmarkTrainSmall(b *testing.B) {
	data := supportFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrainCLINC(b *testing.B) {
	data := readCLINC(b, clincDir(b), "train")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyTypos is BenchmarkClassify with typo matching on and a
// text with misspelt words, which typo matching looks up.
func BenchmarkClassifyTypos(b *testing.B) {
	m, err := Train(supportFixture(b), Options{CoveragePrior: 1, TypoMinLength: 3})
	if err != nil {
		b.Fatal(err)
	}
	text := "hiii i cant sned mesages to my freind since yesterday, waht do i do?? 😭"
	b.ReportAllocs()
	for b.Loop() {
		m.Classify(text)
	}
}
