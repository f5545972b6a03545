package intents

import (
	"math/bits"
	"sync"

	"github.com/kljensen/snowball/english"
)

// Features are 64-bit FNV-1a hashes: of a stem (unigram), of two stems in a
// row (bigram, with sentence-start and sentence-end markers), and of the
// character n-grams of each word between boundary markers. The hashes of the
// features seen in training map to rows of the weight matrix through an
// open-addressing table; features unseen in training have no row and add
// nothing.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211

	seedUni  = fnvOffset ^ 0x75 // 'u'
	seedChar = fnvOffset ^ 0x63 // 'c'

	// bosHash and eosHash stand for the stems before the first and after
	// the last token in bigrams.
	bosHash = 0x9e3779b97f4a7c15
	eosHash = 0xc2b2ae3d27d4eb4f

	// maxWordBytes bounds the work spent on one word: longer words are not
	// stemmed and only their first maxWordBytes bytes give character n-grams.
	maxWordBytes = 48
)

func hashBytes(seed uint64, b []byte) uint64 {
	h := uint64(seed)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func hashString(seed uint64, s string) uint64 {
	h := uint64(seed)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// pairHash combines the hashes of two stems into the hash of their bigram.
func pairHash(a, b uint64) uint64 {
	h := a*0xff51afd7ed558ccd ^ (b + 0x9e3779b97f4a7c15 + (a << 6) + (a >> 2))
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// charGrams calls f with the hash of every character n-gram, n in [lo, hi],
// of the word w between boundary markers.
func charGrams(w []byte, lo, hi int, f func(uint64)) {
	if hi < lo || hi <= 0 {
		return
	}
	if len(w) > maxWordBytes {
		w = w[:maxWordBytes]
	}
	var buf [maxWordBytes + 2]byte
	buf[0] = 0x02
	copy(buf[1:], w)
	buf[len(w)+1] = 0x03
	b := buf[:len(w)+2]
	for i := range b {
		h := uint64(seedChar)
		for j := i; j < len(b) && j-i < hi; j++ {
			h ^= uint64(b[j])
			h *= fnvPrime
			if j-i+1 >= lo {
				f(h)
			}
		}
	}
}

// stem returns the Snowball English stem of a word of ASCII letters, and the
// word itself otherwise. Stop-words are kept as they are.
func stem(w string) string {
	if len(w) < 3 || len(w) > maxWordBytes {
		return w
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return w
		}
	}
	return english.Stem(w, false)
}

// featTable maps feature hashes to weight rows by open addressing with linear
// probing. Key 0 marks an empty slot, so hashes are never 0 (see key).
type featTable struct {
	keys []uint64
	rows []int32
	mask uint64
}

func key(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func newFeatTable(n int) featTable {
	size := 16
	for size < 2*n {
		size *= 2
	}
	return featTable{keys: written(make([]uint64, size)), rows: written(make([]int32, size)), mask: uint64(size - 1)}
}

func (t *featTable) put(h uint64, row int32) {
	h = key(h)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if t.keys[i] == 0 || t.keys[i] == h {
			t.keys[i], t.rows[i] = h, row
			return
		}
	}
}

// get returns the row of feature h, or -1 when it has none.
func (t *featTable) get(h uint64) int32 {
	h = key(h)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case h:
			return t.rows[i]
		case 0:
			return -1
		}
	}
}

// stemCache holds the stem hashes of words unseen in training, so that a
// word is stemmed once however often it comes. It is bounded: a full shard is
// emptied before it takes a new word. Safe for concurrent use.
type stemCache struct {
	shards [16]struct {
		mu sync.Mutex
		m  map[string]uint64
	}
}

const stemCacheShardSize = 512

func (c *stemCache) get(w []byte) uint64 {
	sh := &c.shards[hashBytes(fnvOffset, w)&15]
	sh.mu.Lock()
	h, ok := sh.m[string(w)]
	sh.mu.Unlock()
	if ok {
		return h
	}
	h = hashString(seedUni, stem(string(w)))
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= stemCacheShardSize {
		sh.m = make(map[string]uint64, stemCacheShardSize)
	}
	sh.m[string(w)] = h
	sh.mu.Unlock()
	return h
}

// idTable maps feature hashes to ids by open addressing with linear probing;
// it grows as needed.
type idTable struct {
	keys []uint64 // key(hash); 0 for an empty slot
	ids  []int32
	n    int
}

// get returns the id of h, giving it next when it has none yet, and
// whether it did.
func (t *idTable) get(h uint64, next int32) (int32, bool) {
	if 2*(t.n+1) > len(t.keys) {
		t.grow()
	}
	k := key(h)
	mask := uint64(len(t.keys) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.ids[i], false
		case 0:
			t.keys[i], t.ids[i] = k, next
			t.n++
			return next, true
		}
	}
}

// reserve makes room for n ids without growing.
func (t *idTable) reserve(n int) {
	if 2*n > len(t.keys) {
		t.resize(2 * n)
	}
}

func (t *idTable) grow() { t.resize(2 * len(t.keys)) }

// resize moves the table to at least size slots (a power of two, 4096 or
// more).
func (t *idTable) resize(size int) {
	keys, ids := t.keys, t.ids
	size = 1 << bits.Len(uint(max(size, 1<<12)-1))
	t.keys, t.ids = written(make([]uint64, size)), written(make([]int32, size))
	mask := uint64(size - 1)
	for j, k := range keys {
		if k == 0 {
			continue
		}
		i := k & mask
		for t.keys[i] != 0 {
			i = (i + 1) & mask
		}
		t.keys[i], t.ids[i] = k, ids[j]
	}
}
