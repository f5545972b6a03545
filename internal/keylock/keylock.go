// Package keylock serialises work per key (one conversation, one user)
// inside a process, holding memory only for keys in use. Waiting for a
// lock honours the caller's context. The engine and the stores use it.
package keylock

import (
	"context"
	"sync"
)

// Locks is a set of per-key locks. The zero value is ready to use.
type Locks[K comparable] struct {
	mu    sync.Mutex
	locks map[K]*lock
}

type lock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

// Lock waits for key's lock or for ctx to end; on success the caller must
// call unlock exactly once.
func (k *Locks[K]) Lock(ctx context.Context, key K) (unlock func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[K]*lock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &lock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	return func() {
		<-l.ch
		release()
	}, nil
}

// Len is the number of keys locked or waited for (for tests and metrics).
func (k *Locks[K]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
