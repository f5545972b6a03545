package bot_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/loadtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// realKB is the shipped knowledge base and its trained classifier, built
// once per test binary.
var realKB = sync.OnceValues(func() (*realBrain, error) {
	k, m, err := brain.Start("")
	if err != nil {
		return nil, err
	}
	return &realBrain{kb: k, model: m}, nil
})

type realBrain struct {
	kb    *kb.KB
	model *intents.Model
}

func loadRealKB(tb testing.TB) *realBrain {
	tb.Helper()
	b, err := realKB()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// nopSender delivers nothing, at no cost.
type nopSender struct{}

func (nopSender) Send(context.Context, bot.Address, []flows.Reply) error { return nil }

// benchUser is one simulated user of BenchmarkTurn.
type benchUser struct {
	id     string
	addr   bot.Address
	rng    *rand.Rand
	last   []flows.Reply
	cancel bool // handed off on the last turn: cancel the request
}

// BenchmarkTurn measures one whole engine turn: clean, classify with the
// real classifier trained on the shipped knowledge base, step the flow,
// save in the memory store, deliver to a Sender that does nothing. 1,000
// users take turns in a cycle, each answering the replies of their own
// last turn the way loadtest.Script's users do: free text from the
// knowledge base's evaluation examples, presses on the last reply's
// buttons, typed option numbers. They never ask for a person; a hand-off
// that happens anyway (a "yes" to "would you like a person?") is
// cancelled on the user's next turn. The rate limit is off.
//
//	go test -run '^$' -bench Turn -cpu 1 -benchmem -count 6 ./bot/
func BenchmarkTurn(b *testing.B) {
	rb := loadRealKB(b)
	script, err := loadtest.NewScript(rb.kb)
	if err != nil {
		b.Fatal(err)
	}
	e, err := bot.New(bot.Config{KB: rb.kb, Classifier: rb.model, Store: memory.New(), RateMessages: -1})
	if err != nil {
		b.Fatal(err)
	}
	e.Register("bench", nopSender{})
	const nUsers = 1000
	users := make([]benchUser, nUsers)
	for i := range users {
		id := "u" + strconv.Itoa(i)
		users[i] = benchUser{id: id, addr: bot.Address(id), rng: rand.New(rand.NewPCG(1, uint64(i)))}
	}
	ctx := context.Background()
	handoffs, seq := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		u := &users[seq%nUsers]
		seq++
		var mv loadtest.Move
		if u.cancel {
			mv, u.cancel = loadtest.Move{Command: flows.CmdCancel}, false
		} else {
			mv = script.Next(u.rng, u.last, false)
		}
		t, err := e.Handle(ctx, bot.Message{ID: strconv.Itoa(seq), Channel: "bench", UserID: u.id, Address: u.addr,
			Text: mv.Text, Button: mv.Button, Command: mv.Command, NonText: mv.NonText})
		if err != nil {
			b.Fatal(err)
		}
		u.last = t.Replies
		if t.Handoff != nil {
			handoffs++
			u.cancel = true
		}
	}
	b.ReportMetric(float64(handoffs)/float64(seq), "handoffs/op")
}
