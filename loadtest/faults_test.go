package loadtest_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/loadtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// faulty wraps a store and breaks one turn in every 40 the way a buggy
// store could: lose its replies (saved, never handed back for delivery)
// or hand them back twice.
type faulty struct {
	bot.Store
	lose bool
	n    atomic.Int64
}

func (s *faulty) Turn(ctx context.Context, key bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) ([]bot.Outgoing, error) {
	out, err := s.Store.Turn(ctx, key, msgID, fn)
	if err != nil || len(out) == 0 || s.n.Add(1)%40 != 0 {
		return out, err
	}
	if s.lose {
		return nil, nil
	}
	return append(out, out...), nil
}

// TestLoadFindsFaults checks the checks: replies lost or sent twice by a
// faulty store are reported.
func TestLoadFindsFaults(t *testing.T) {
	p := loadAssistant(t)
	for _, tc := range []struct {
		lose bool
		want []string
	}{
		{lose: true, want: []string{"replies lost", "left undelivered in the outbox"}},
		{lose: false, want: []string{"replies sent 2 times"}},
	} {
		rep, err := loadtest.Run(context.Background(), loadtest.Config{
			KB: p.kb, Classifier: p.model, Users: 20, Turns: 10, Seed: 3,
			Open: func(context.Context) (bot.Store, error) { return &faulty{Store: memory.New(), lose: tc.lose}, nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(rep.Problems, "\n")
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("lose=%v: problems do not say %q:\n%s", tc.lose, w, all)
			}
		}
	}
}
