// Package fifo is the bounded memory the channel adapters share: a map
// that forgets its oldest keys beyond a limit (update and dispatch IDs
// seen, threads and messages the bot made).
package fifo

// Map is a map that keeps the last limit keys added: adding one more
// forgets the oldest. Storing a key it has does not make the key newer.
// It is not safe for concurrent use: callers lock.
type Map[K comparable, V any] struct {
	m     map[K]V
	ring  []K // keys in the order added; next is the oldest once full
	next  int
	limit int
}

// New returns an empty Map that keeps at most limit keys (limit > 0).
func New[K comparable, V any](limit int) *Map[K, V] {
	return &Map[K, V]{m: make(map[K]V), limit: limit}
}

// Put stores k → v and reports whether k was new.
func (f *Map[K, V]) Put(k K, v V) bool {
	_, had := f.m[k]
	if !had {
		if len(f.ring) < f.limit {
			f.ring = append(f.ring, k)
		} else {
			delete(f.m, f.ring[f.next])
			f.ring[f.next] = k
			f.next = (f.next + 1) % f.limit
		}
	}
	f.m[k] = v
	return !had
}

// Get returns the value stored for k.
func (f *Map[K, V]) Get(k K) (V, bool) {
	v, ok := f.m[k]
	return v, ok
}

// Len is the number of keys kept.
func (f *Map[K, V]) Len() int { return len(f.m) }
