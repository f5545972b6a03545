package discord

import (
	"strings"
	"sync"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Bounds of the adapter's in-memory state.
const (
	maxSeen    = 8192   // dispatch IDs remembered to drop replays
	maxThreads = 50_000 // threads the bot opened, with their user
)

// fifoMap is a map that forgets its oldest keys beyond a bound. It is
// safe for concurrent use.
type fifoMap[V any] struct {
	mu   sync.Mutex
	m    map[string]V
	ring []string
	next int
	max  int
}

func newFIFOMap[V any](max int) *fifoMap[V] {
	return &fifoMap[V]{m: map[string]V{}, max: max}
}

// add stores k → v and reports whether k was new.
func (f *fifoMap[V]) add(k string, v V) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[k]; ok {
		f.m[k] = v
		return false
	}
	if len(f.ring) < f.max {
		f.ring = append(f.ring, k)
	} else {
		delete(f.m, f.ring[f.next])
		f.ring[f.next] = k
		f.next = (f.next + 1) % f.max
	}
	f.m[k] = v
	return true
}

func (f *fifoMap[V]) get(k string) (V, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[k]
	return v, ok
}

func (f *fifoMap[V]) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// keyedMutex serialises work per key, holding memory only for keys in use.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// address is where a conversation's replies go: the channel (a thread the
// bot opened, a DM, or the server channel when no thread could be opened)
// and the user the conversation belongs to, whose ID the buttons carry.
// Its string form, stored by the engine, is "channelID:userID". It holds
// no interaction token: a stored address must stay usable after the
// 15 minutes an interaction token lives.
type address struct {
	channel, user string
}

func (a address) String() string { return a.channel + ":" + a.user }

func parseAddress(s bot.Address) (address, bool) {
	ch, user, _ := strings.Cut(string(s), ":")
	if !isSnowflake(ch) || user != "" && !isSnowflake(user) {
		return address{}, false
	}
	return address{channel: ch, user: user}, true
}
