package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/loadtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/sqlite"
)

// runLoadtest is `dmdoctor loadtest`: many simulated users at once talk
// to the real engine on a fresh store (a temporary SQLite file by
// default), moderators work their tickets, and the figures are printed:
// turns per second, turn latency, peak memory, and whether anything was
// lost, sent twice or left running. It never touches a configured
// database.
func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dir := newFlags("loadtest", stderr)
	users := fs.Int("users", loadtest.DefaultUsers, "simulated users writing at once")
	turns := fs.Int("turns", loadtest.DefaultTurns, "messages each user sends")
	storeName := fs.String("store", "sqlite", "store to load: sqlite or memory")
	db := fs.String("db", "", "SQLite `FILE` to create for the run (default: a temporary file, deleted after); must not exist")
	handoffs := fs.Int("handoff-every", loadtest.DefaultHandoffEvery, "one user in `N` asks for a person (negative: none)")
	moderators := fs.Int("moderators", loadtest.DefaultModerators, "moderators working tickets at once")
	think := fs.Duration("think", 0, "a user's pause between messages (uniform around it; default none)")
	sendDelay := fs.Duration("send-delay", 0, "how long delivering one reply batch takes (a chat API call)")
	seed := fs.Uint64("seed", 1, "random seed")
	asJSON := fs.Bool("json", false, "write the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		return errors.New("usage: dmdoctor loadtest [--users N] [--turns N] [--store sqlite|memory] [--db FILE] ...")
	}
	var open func(context.Context) (bot.Store, error)
	switch *storeName {
	case "memory":
		open = func(context.Context) (bot.Store, error) { return memory.New(), nil }
	case "sqlite":
		path := *db
		if path == "" {
			tmp, err := os.MkdirTemp("", "dmdoctor-loadtest-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			path = filepath.Join(tmp, "load.db")
		} else if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("loadtest: %s exists: give a new file (the load test fills it with made-up users)", path)
		}
		open = func(ctx context.Context) (bot.Store, error) { return sqlite.Open(ctx, path) }
	default:
		return fmt.Errorf("loadtest: store %q: want sqlite or memory", *storeName)
	}
	k, m, err := brain.Start(*dir)
	if err != nil {
		return err
	}
	rep, err := loadtest.Run(ctx, loadtest.Config{
		KB: k, Classifier: m, Open: open,
		Users: *users, Turns: *turns, HandoffEvery: *handoffs, Moderators: *moderators,
		Think: *think, SendDelay: *sendDelay, Seed: *seed,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "store: %s\n", *storeName)
		if err := rep.WriteText(stdout); err != nil {
			return err
		}
	}
	if !rep.OK() {
		return fmt.Errorf("loadtest: %d problems", len(rep.Problems))
	}
	return nil
}
