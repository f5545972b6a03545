package keylock

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestSerialisesOneKey(t *testing.T) {
	var l Locks[string]
	var mu sync.Mutex
	inside, max := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := l.Lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside > max {
				max = inside
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if max != 1 {
		t.Fatalf("%d holders at once", max)
	}
	if l.Len() != 0 {
		t.Fatalf("%d keys kept after use", l.Len())
	}
}

func TestOtherKeysDontWait(t *testing.T) {
	var l Locks[string]
	unlock, _ := l.Lock(context.Background(), "a")
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	u2, err := l.Lock(ctx, "b")
	if err != nil {
		t.Fatal("key b waited for key a")
	}
	u2()
}

func TestWaitHonoursContext(t *testing.T) {
	var l Locks[int]
	unlock, _ := l.Lock(context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, 1); err == nil {
		t.Fatal("got a held lock")
	}
	unlock()
	if l.Len() != 0 {
		t.Fatalf("a given-up wait left %d keys", l.Len())
	}
}
