package discord_test

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/dmdoctor/dmdoctor/adapters/discord"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// The Discord channel wired to an engine, as cmd/dmdoctor does.
func Example() {
	ctx := context.Background() // cmd: cancelled on SIGINT/SIGTERM
	k, m, err := brain.Start("")
	if err != nil {
		log.Fatal(err)
	}
	engine, err := bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New()})
	if err != nil {
		log.Fatal(err)
	}
	cfg, enabled, err := discord.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	if !enabled {
		return // DISCORD_BOT_TOKEN not set
	}
	cfg.Logger = slog.Default()
	a, err := discord.New(cfg, engine)
	if err != nil {
		log.Fatal(err)
	}
	// Replies the engine sends outside a turn reach Discord, and with
	// DISCORD_MOD_CHANNEL_ID set tickets are shown to the moderators there.
	a.Register(engine)
	if err := a.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
