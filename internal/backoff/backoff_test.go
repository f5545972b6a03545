package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 6: time.Second} {
		for range 50 {
			d := Delay(100*time.Millisecond, time.Second, attempt)
			if d < want/2 || d > want {
				t.Fatalf("Delay(attempt %d) = %v, want in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := Delay(0, time.Second, 3); d != 0 {
		t.Fatalf("zero base gave %v", d)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err == nil {
		t.Fatal("slept through a cancelled context")
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
