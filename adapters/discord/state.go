package discord

import (
	"context"
	"strings"
	"sync"

	"github.com/dmdoctor/dmdoctor/adapters/internal/fifo"
	"github.com/dmdoctor/dmdoctor/bot"
)

// Bounds of the adapter's in-memory state.
const (
	maxSeen    = 8192   // dispatch IDs remembered to drop replays
	maxThreads = 50_000 // threads the bot opened, with their user
)

// fifoMap is a map from IDs that forgets its oldest keys beyond a bound.
// It is safe for concurrent use.
type fifoMap[V any] struct {
	mu sync.Mutex
	m  *fifo.Map[string, V]
}

func newFIFOMap[V any](max int) *fifoMap[V] {
	return &fifoMap[V]{m: fifo.New[string, V](max)}
}

// add stores k → v and reports whether k was new.
func (f *fifoMap[V]) add(k string, v V) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m.Put(k, v)
}

func (f *fifoMap[V]) get(k string) (V, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m.Get(k)
}

func (f *fifoMap[V]) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m.Len()
}

// lock serialises work per key (a user's turns, the relays of a ticket's
// thread) and returns the unlock. It waits as long as the holder takes:
// the waiter's turn then runs like any other.
func (a *Adapter) lock(key string) (unlock func()) {
	unlock, _ = a.locks.Lock(context.Background(), key) // fails only when its context ends
	return unlock
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
