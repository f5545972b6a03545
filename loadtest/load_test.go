package loadtest_test

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/store/postgres/pgtest"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/loadtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/postgres"
	"github.com/dmdoctor/dmdoctor/store/sqlite"
)

var (
	users   = flag.Int("users", 200, "simulated users at once")
	turns   = flag.Int("turns", 20, "messages per user")
	stores  = flag.String("stores", "sqlite,memory,postgres", "stores to load, comma-separated (postgres only with DMDOCTOR_TEST_POSTGRES)")
	think   = flag.Duration("think", 0, "a user's pause between messages")
	handoff = flag.Int("handoff-every", loadtest.DefaultHandoffEvery, "one user in this many asks for a person")
)

// assistant is the shipped knowledge base and its classifier, trained
// once per test binary.
var assistant = sync.OnceValues(func() (*parts, error) {
	k, m, err := brain.Start("")
	if err != nil {
		return nil, err
	}
	return &parts{k, m}, nil
})

type parts struct {
	kb    *kb.KB
	model *intents.Model
}

func loadAssistant(tb testing.TB) *parts {
	tb.Helper()
	p, err := assistant()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestLoad runs -users users × -turns messages through the engine on each
// store and fails when a reply was lost or sent twice, a hand-off had not
// exactly one ticket, or a goroutine was left running. By default a small
// load (200 × 20, well under 20 s even with -race); the full one of issue 7:
//
//	go test ./loadtest -run TestLoad -users 10000 -turns 20 -v
func TestLoad(t *testing.T) {
	p := loadAssistant(t)
	for _, name := range strings.Split(*stores, ",") {
		t.Run(name, func(t *testing.T) {
			open := opener(t, name)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			rep, err := loadtest.Run(ctx, loadtest.Config{
				KB: p.kb, Classifier: p.model, Open: open,
				Users: *users, Turns: *turns, Think: *think, HandoffEvery: *handoff, Seed: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			rep.WriteText(&b)
			t.Logf("%s store:\n%s", name, b.String())
			if !rep.OK() {
				t.Errorf("%d problems", len(rep.Problems))
			}
			if want := *users * *turns; rep.Messages != want {
				t.Errorf("%d messages handled, want %d", rep.Messages, want)
			}
			if *handoff > 0 && *users >= 10**handoff && rep.Handoffs == 0 {
				t.Errorf("no hand-offs")
			}
		})
	}
}

// opener returns how to open the named store for t, skipping t when it
// is not available.
func opener(t *testing.T, name string) func(context.Context) (bot.Store, error) {
	switch strings.TrimSpace(name) {
	case "memory":
		return func(context.Context) (bot.Store, error) { return memory.New(), nil }
	case "sqlite":
		path := filepath.Join(t.TempDir(), "load.db")
		return func(ctx context.Context) (bot.Store, error) { return sqlite.Open(ctx, path) }
	case "postgres":
		dsn := pgtest.DSN(t)
		return func(ctx context.Context) (bot.Store, error) { return postgres.Open(ctx, dsn) }
	}
	t.Fatalf("unknown store %q", name)
	return nil
}
