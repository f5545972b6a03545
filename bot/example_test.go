package bot_test

import (
	"context"
	"fmt"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// An engine needs a knowledge base, a classifier and a store; a channel
// hands it each message and delivers the replies (or registers a Sender
// and lets the engine deliver).
func ExampleEngine_Handle() {
	k, m, err := brain.Start("") // the embedded knowledge base, trained
	if err != nil {
		panic(err)
	}
	e, err := bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New()})
	if err != nil {
		panic(err)
	}
	t, err := e.Handle(context.Background(), bot.Message{
		ID: "1", Channel: "example", UserID: "ann", Text: "tiktok says i'm banned from messaging for 24 hours",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Intent, t.Cause, t.Phase)
	fmt.Println(t.Replies[0].Text[:len("This sounds like: A temporary ban.")])
	for _, b := range t.Replies[len(t.Replies)-1].Buttons {
		fmt.Println("-", b.Label)
	}
	// Output:
	// temporary_ban temporary_ban feedback
	// This sounds like: A temporary ban.
	// - Yes, it works now
	// - No, still broken
	// - Talk to a person
}
