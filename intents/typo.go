package intents

// Typo matching (Options.TypoMinLength) reads a word unseen in training as
// the training word one edit away from it: a letter dropped, added or
// changed, or two letters swapped ("mesages", "helpp", "recieve"). It is the
// deletion scheme of SymSpell: two words are that close when one is the other
// with a letter dropped, or both give the same word when a letter is dropped
// from each (which also lets a letter move by more than one place). Only
// training words of letters a-z at least TypoMinLength long take part:
// shorter words are one edit away from too many others.

// typoIndex maps the hash of every training word with one letter dropped to
// that word's index. A deletion shared by several words goes to the one most
// frequent in training (the first of them on a tie).
type typoIndex map[uint64]int32

func isLetters(w []byte) bool {
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// deletionHash is the hash of w with its k-th byte dropped.
func deletionHash(w []byte, k int) uint64 {
	return hashBytes(hashBytes(fnvOffset, w[:k]), w[k+1:])
}

// newTypoIndex indexes the training words, given how many times each
// occurs, for words at least minLen long; nil when minLen <= 0.
func newTypoIndex(words []string, counts []int, minLen int) typoIndex {
	if minLen <= 0 {
		return nil
	}
	n := 0
	for _, w := range words {
		n += len(w)
	}
	t := make(typoIndex, n)
	for i, w := range words {
		b := []byte(w)
		if len(b) < minLen || len(b) > maxWordBytes || !isLetters(b) {
			continue
		}
		for k := range b {
			h := deletionHash(b, k)
			if j, ok := t[h]; ok && counts[j] >= counts[i] {
				continue
			}
			t[h] = int32(i)
		}
	}
	return t
}

// typoMatch returns the index of a training word one edit away from w, a
// word unseen in training, or -1 when there is none (or typo matching is
// off). It looks for, in order: a training word that w misses a letter of
// ("mesages"), one that w has a letter too many of ("helpp"), one with a
// letter changed or two swapped ("recieve"). del is scratch space.
func (m *Model) typoMatch(w []byte, del *[]byte) int32 {
	minLen := m.opts.TypoMinLength
	if m.typos == nil || len(w)+1 < minLen || len(w) > maxWordBytes || !isLetters(w) {
		return -1
	}
	if i, ok := m.typos[hashBytes(fnvOffset, w)]; ok {
		return i
	}
	if len(w) > minLen {
		d := *del
		for k := range w {
			d = append(append(d[:0], w[:k]...), w[k+1:]...)
			if i, ok := m.words[string(d)]; ok {
				*del = d
				return i
			}
		}
		*del = d
	}
	if len(w) >= minLen {
		for k := range w {
			if i, ok := m.typos[deletionHash(w, k)]; ok {
				return i
			}
		}
	}
	return -1
}
