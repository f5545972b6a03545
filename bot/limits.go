package bot

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Abuse limits: defaults of Config.
const (
	DefaultRateMessages  = 10               // messages a user may send…
	DefaultRateWindow    = 10 * time.Second // …in this window
	DefaultMaxConcurrent = 256              // turns running at once
	maxLimited           = 100_000          // users tracked before idle ones are swept
)

// limiter allows each key a burst of n messages refilled over window (a
// token bucket: n in any window, sustained n per window), and remembers
// whether the key was told it is going too fast, so it is told once per
// episode, not once per message.
type limiter struct {
	n      int
	window time.Duration

	mu   sync.Mutex
	keys map[string]*limitEntry
}

type limitEntry struct {
	lim  *rate.Limiter
	told bool
	last time.Time
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{n: n, window: window, keys: map[string]*limitEntry{}}
}

// allow reports whether key may send now, and whether this refusal is the
// first of its episode (the user should be told).
func (l *limiter) allow(key string, now time.Time) (ok, tell bool) {
	if l == nil || l.n <= 0 {
		return true, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= maxLimited {
			l.sweep(now)
		}
		e = &limitEntry{lim: rate.NewLimiter(rate.Every(l.window/time.Duration(l.n)), l.n)}
		l.keys[key] = e
	}
	e.last = now
	if e.lim.AllowN(now, 1) {
		e.told = false
		return true, false
	}
	if e.told {
		return false, false
	}
	e.told = true
	return false, true
}

// sweep forgets keys idle for a whole window (their bucket is full again).
// The caller holds l.mu.
func (l *limiter) sweep(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) > l.window {
			delete(l.keys, k)
		}
	}
}
