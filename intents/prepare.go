package intents

import (
	"runtime"
	"sync"
	"unsafe"
)

// The steps of Train before the fit read every training line. They run in
// parts on all cores and merge the parts in order, so that words and
// features are numbered exactly as one pass over the lines in order would
// number them: by first appearance. The model does not depend on the
// number of cores.

// minPart is the fewest items worth a part of their own.
var minPart = 512

// partBounds splits n items into consecutive parts, one per core (at most
// 8) and at least minPart items each: part p is [b[p], b[p+1]).
func partBounds(n int) []int {
	k := min(runtime.GOMAXPROCS(0), 8, max(n/minPart, 1))
	b := make([]int, k+1)
	for p := range b {
		b[p] = p * n / k
	}
	return b
}

// eachPart calls fn for every part of b, in parallel, and waits for them.
func eachPart(b []int, fn func(p, lo, hi int)) {
	if len(b) == 2 {
		fn(0, b[0], b[1])
		return
	}
	var wg sync.WaitGroup
	for p := range len(b) - 1 {
		wg.Go(func() { fn(p, b[p], b[p+1]) })
	}
	wg.Wait()
}

// inParts calls fn for the parts of [0, n) in parallel (see partBounds).
func inParts(n int, fn func(lo, hi int)) {
	eachPart(partBounds(n), func(_, lo, hi int) { fn(lo, hi) })
}

// slab hands out slices of one large array at a time: training makes one
// slice per line for each of several steps, and tens of thousands of small
// allocations cost more than the work itself.
type slab[T any] struct{ buf []T }

// take returns a slice of length n.
func (s *slab[T]) take(n int) []T {
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]T, 0, max(n, 1<<15))
	}
	lo := len(s.buf)
	s.buf = s.buf[:lo+n]
	return s.buf[lo : lo+n : lo+n]
}

// tokenizeAll returns the tokens of every example as indices into words,
// the distinct tokens in order of first appearance, and how often each
// occurs.
func tokenizeAll(examples []Example) (lines [][]int32, words []string, counts []int) {
	type part struct {
		words  []string
		counts []int
	}
	b := partBounds(len(examples))
	parts := make([]part, len(b)-1)
	lines = make([][]int32, len(examples))
	eachPart(b, func(p, lo, hi int) {
		var tz tokenizer
		var sl slab[int32]
		ids := map[string]int32{}
		pt := &parts[p]
		for i := lo; i < hi; i++ {
			tz.run(examples[i].Text, nil, maxTokens)
			line := sl.take(len(tz.toks))
			for j, t := range tz.toks {
				w := tz.out[t.start:t.end]
				id, ok := ids[string(w)]
				if !ok {
					id = int32(len(pt.words))
					pt.words = append(pt.words, string(w))
					pt.counts = append(pt.counts, 0)
					ids[pt.words[id]] = id
				}
				pt.counts[id]++
				line[j] = id
			}
			lines[i] = line
		}
	})
	// Merge: part p's words new to the parts before it are numbered next,
	// in p's order.
	ids := make(map[string]int32, 2*len(parts[0].words))
	for p, pt := range parts {
		remap := make([]int32, len(pt.words))
		for j, w := range pt.words {
			id, ok := ids[w]
			if !ok {
				id = int32(len(words))
				words = append(words, w)
				counts = append(counts, 0)
				ids[w] = id
			}
			counts[id] += pt.counts[j]
			remap[j] = id
		}
		if p == 0 {
			continue // numbered as they are
		}
		for _, line := range lines[b[p]:b[p+1]] {
			for j, id := range line {
				line[j] = remap[id]
			}
		}
	}
	return lines, words, counts
}

// featuresAll returns the feature ids of every line (see featureIDs.line)
// and the length of each one's word part, numbered by first appearance;
// the hash of each feature id; each word's character n-gram ids; and the
// number of lines each feature occurs in.
func featuresAll(lines [][]int32, words []string, stemHash []uint64, o Options) (feats [][]int32, nword []int, hashes []uint64, chars [][]int32, df []int32) {
	b := partBounds(len(lines))
	fs := make([]*featureIDs, len(b)-1)
	dfs := make([][]int32, len(fs))
	feats = make([][]int32, len(lines))
	nword = make([]int, len(lines))
	eachPart(b, func(p, lo, hi int) {
		f := newFeatureIDs(words, stemHash, o)
		// The KB's data has about three new features a line.
		room := 4 * (hi - lo)
		f.ids.reserve(room)
		f.hashes = make([]uint64, 0, room)
		df := make([]int32, 0, room)   // by id: lines it occurs in
		last := make([]int32, 0, room) // by id: the last line + 1 it was counted for
		for i := lo; i < hi; i++ {
			feats[i], nword[i] = f.line(lines[i])
			for len(df) < len(f.hashes) {
				df, last = append(df, 0), append(last, 0)
			}
			for _, id := range feats[i] {
				if last[id] != int32(i+1) {
					last[id] = int32(i + 1)
					df[id]++
				}
			}
		}
		fs[p], dfs[p] = f, df
	})
	// Merge as in tokenizeAll: part p's features new to the parts before
	// it are numbered next, in p's order.
	var ids idTable
	n := 0
	for _, f := range fs {
		n += len(f.hashes)
	}
	ids.reserve(n)
	chars = make([][]int32, len(words))
	for p, f := range fs {
		remap := make([]int32, len(f.hashes))
		for j, h := range f.hashes {
			id, added := ids.get(h, int32(len(hashes)))
			if added {
				hashes = append(hashes, h)
				df = append(df, 0)
			}
			df[id] += dfs[p][j]
			remap[j] = id
		}
		for w, cs := range f.chars {
			if cs == nil || chars[w] != nil {
				continue
			}
			if p > 0 {
				for k, id := range cs {
					cs[k] = remap[id]
				}
			}
			chars[w] = cs
		}
		if p == 0 {
			continue
		}
		for _, line := range feats[b[p]:b[p+1]] {
			for k, id := range line {
				line[k] = remap[id]
			}
		}
	}
	return feats, nword, hashes, chars, df
}

// written returns s, all zeros, after writing to every page of it. The
// kernel maps a fresh page that is read first to a shared page of zeros,
// and must then, at the first write, copy it and flush the old mapping from
// every core, which on a virtual machine costs an interrupt to each core; a
// page written first is simply given. Training reads most of its large
// fresh arrays before writing them (weights, hash tables), and writing them
// first took a fifth off the start of a new process (BenchmarkColdStart in
// cmd/dmdoctor: 124 ms before, 99 ms after, medians of 5).
func written[T any](s []T) []T {
	if len(s) == 0 {
		return s
	}
	var zero T
	step := max(4096/int(unsafe.Sizeof(zero)), 1)
	for i := 0; i < len(s); i += step {
		s[i] = zero
	}
	return s
}
