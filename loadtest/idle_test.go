package loadtest_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/loadtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/sqlite"
)

// BenchmarkIdleConversations measures what a conversation costs once it
// is over: each op is one conversation of 3 turns (written the way
// loadtest.Script's users write, every text a fresh string as if read off
// the network), 16 conversations at once per CPU, through the engine.
// It reports the live heap each conversation leaves behind (after a GC:
// the conversation, its transcript, the IDs of its messages) and, for
// SQLite, the database file's size per conversation once the store is
// closed (WAL checkpointed).
//
//	go test ./loadtest -run '^$' -bench IdleConversations -benchtime 100000x
func BenchmarkIdleConversations(b *testing.B) {
	p := loadAssistant(b)
	b.Run("store=memory", func(b *testing.B) {
		idleConversations(b, p, memory.New(), "")
	})
	b.Run("store=sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "idle.db")
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		idleConversations(b, p, s, path)
	})
}

// discard is a Sender that delivers nothing.
type discard struct{}

func (discard) Send(context.Context, bot.Address, []flows.Reply) error { return nil }

func idleConversations(b *testing.B, p *parts, store bot.Store, path string) {
	defer store.Close()
	e, err := bot.New(bot.Config{KB: p.kb, Classifier: p.model, Store: store, RateMessages: -1})
	if err != nil {
		b.Fatal(err)
	}
	e.Register(loadtest.Channel, discard{})
	script, err := loadtest.NewScript(p.kb)
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := next.Add(1)
			rng := rand.New(rand.NewPCG(7, uint64(i)))
			id := "u" + strconv.FormatInt(i, 10)
			var last []flows.Reply
			for t := range 3 {
				mv := script.Next(rng, last, false)
				turn, err := e.Handle(ctx, bot.Message{ID: id + "." + strconv.Itoa(t), Channel: loadtest.Channel,
					UserID: id, Address: bot.Address(id), Text: strings.Clone(mv.Text), Button: mv.Button,
					Command: mv.Command, NonText: mv.NonText})
				if err != nil {
					b.Error(err)
					return
				}
				last = turn.Replies
			}
		}
	})
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/conv")
	runtime.KeepAlive(e)
	if path == "" {
		return
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/float64(b.N), "disk-B/conv")
}
