package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// BenchTurns measures durable turns per second with many conversations at
// once: 1,000 keys, 32 goroutines per CPU, each turn saving a ~1 KB state,
// a transcript line and an outbox entry. It reports turns/s. Every store's
// BenchmarkTurn calls it, so their figures compare.
func BenchTurns(b *testing.B, s bot.Store) {
	const keys = 1000
	state := benchState()
	var seq atomic.Int64
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := seq.Add(1)
			k := bot.Key{Channel: "telegram", User: fmt.Sprint(i % keys)}
			_, err := s.Turn(ctx, k, fmt.Sprint(i), func(c *bot.Conversation) (bot.Change, error) {
				if c.Version == 0 {
					c.Created = now
				}
				c.Updated, c.Address = now, "chat"
				c.State = state
				c.State.Turns++
				return bot.Change{
					Transcript: []bot.Line{{Time: now, From: bot.FromUser, Text: "my messages won't send, it says try again later"}},
					Outbox: []bot.Outgoing{{Key: k, Address: "chat", Created: now, Replies: []flows.Reply{{
						Text:    "Did you change your username or birthday recently?",
						Buttons: []flows.Button{{ID: "q:3:yes", Label: "Yes"}, {ID: "q:3:no", Label: "No"}},
					}}}},
				}, nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}

// benchState is a realistic conversation state, about 1 KB as JSON.
func benchState() flows.State {
	return flows.State{
		Phase:    flows.Confirm,
		Seq:      7,
		Question: "rate_limit_new_account",
		Cause:    "rate_limit",
		Belief: map[string]float64{
			"rate_limit": 0.41, "shadow_ban": 0.17, "privacy_settings": 0.12, "blocked_by_user": 0.09,
			"age_restriction": 0.07, "network": 0.05, "app_outdated": 0.04, "server_outage": 0.03,
			"community_guidelines": 0.02,
		},
		Asked:    []string{"error_shown", "new_account", "can_receive", "other_devices"},
		Detected: []string{"rate_limit", "shadow_ban", "privacy_settings"},
		Tried:    []string{"update_app", "clear_cache"},
		RuledOut: []string{"network", "server_outage"},
		Answers: []flows.Answer{
			{Question: "error_shown", Option: "yes", Text: "Yes, an error"},
			{Question: "new_account", Option: "no", Text: "No"},
			{Question: "can_receive", Option: "yes", Text: "Yes"},
			{Question: "other_devices", Text: "I tried on my iPad and it is the same thing there"},
		},
		Last: []string{
			"tiktok won't let me send messages to my friend",
			"it just says too many requests, try again later",
			"I already updated the app yesterday",
		},
		Turns: 6,
	}
}
