package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

// ClaimAll has pollers goroutines per store claim the outbox of channel
// at now, up to limit entries at a time, until none is left, and returns
// how many times each entry was claimed. A failed claim fails t. The
// suite and the stores' tests of several instances on one database use
// it to check that each entry goes to exactly one claimer.
func ClaimAll(t testing.TB, stores []bot.Store, pollers int, channel string, now time.Time, limit int) map[int64]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := map[int64]int{}
	errs := make(chan error, pollers*len(stores))
	for _, st := range stores {
		for range pollers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := st.ClaimOutbox(context.Background(), channel, now, bot.OutboxLease, limit)
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, o := range got {
						claimed[o.ID]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("ClaimOutbox: %v", err)
	}
	return claimed
}

// CloseEndsGoroutines checks that a store from open, after some turns,
// leaves no goroutine behind once closed. Stores that start goroutines
// call it from their own tests.
func CloseEndsGoroutines(t *testing.T, open func() bot.Store) {
	t.Helper()
	before := runtime.NumGoroutine()
	s := open()
	for i := range 20 {
		if _, err := s.Turn(context.Background(), bot.Key{Channel: "console", User: fmt.Sprint(i % 3)}, fmt.Sprint(i),
			func(*bot.Conversation) (bot.Change, error) { return bot.Change{}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before Open", n, before)
	}
}
