package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/store/sqlite"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "dmdoctor")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, sqlite.DefaultPath)

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	k := bot.Key{Channel: "telegram", User: "42"}
	_, err = s.Turn(ctx, k, "update-1", func(c *bot.Conversation) (bot.Change, error) {
		c.Created = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		c.Updated = c.Created
		c.State.Turns++
		return bot.Change{Transcript: []bot.Line{{Time: c.Updated, From: bot.FromUser, Text: "hi"}}}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	s.Close()

	// Reopened, the file remembers.
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	c, err := s.Get(ctx, k)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", c.Version, "turns", c.State.Turns)
	_, err = s.Turn(ctx, k, "update-1", nil)
	fmt.Println(err)
	// Output:
	// version 1 turns 1
	// sqlite: turn telegram:42: message "update-1": message already handled
}
