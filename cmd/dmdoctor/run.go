package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/console"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/story"
)

const usage = `dmdoctor: finds out why TikTok won't send your messages.

Usage:
  dmdoctor [--kb DIR] [--db FILE] [--http ADDR] [--config FILE]
                               run the configured channels (TELEGRAM_BOT_TOKEN,
                               DISCORD_BOT_TOKEN); the terminal chat when none
  dmdoctor chat [--json] [--mod]
                               talk to the assistant in the terminal (--mod: the
                               terminal is the moderators' place too)
  dmdoctor eval [--data F] [--train F] [--val F] [--json]
                               measure the intent classifier
  dmdoctor test [-v] FILE|DIR  run conversation test stories
  dmdoctor kb check            validate a knowledge base
  dmdoctor stats [--since DURATION]
                               what happened: conversations, deflection, hand-offs
  dmdoctor config check        say what would run and what is missing or wrong
  dmdoctor healthcheck         exit 0 when the operations server says /healthz ok
  dmdoctor loadtest [-users N] [-turns N] [-store sqlite|memory]
                               simulated users at once through the engine and a
                               fresh store: turns/s, latency, memory, exactly-once

Settings come from flags, then the environment, then the --config file.
See README.md for every DMDOCTOR_*, TELEGRAM_* and DISCORD_* variable.
`

// exitCode is an error that carries the process exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run is the whole program; main only adds signals and the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		var fv flagValues
		fs := newFlagSet("", stderr)
		addFlags(fs, &fv)
		if err := fs.Parse(args); err != nil {
			return exitCode(2)
		}
		c, err := loadConfig(fv, getenv)
		if err != nil {
			return err
		}
		if c.channelsOn() {
			return serve(ctx, c, getenv, stderr)
		}
		return chat(ctx, c, false, false, stdin, stdout, stderr)
	case "chat":
		var fv flagValues
		fs := newFlagSet("chat", stderr)
		addFlags(fs, &fv)
		asJSON := fs.Bool("json", false, "write one JSON object per reply")
		mod := fs.Bool("mod", false, "the terminal is the moderators' place too: tickets are printed, \"/mod help\" lists the commands")
		if err := fs.Parse(args); err != nil {
			return exitCode(2)
		}
		c, err := loadConfig(fv, noChannels(getenv))
		if err != nil {
			return err
		}
		return chat(ctx, c, *asJSON, *mod, stdin, stdout, stderr)
	case "eval":
		return runEval(args, stdout, stderr)
	case "test":
		return runTest(ctx, args, stdout, stderr)
	case "kb":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: dmdoctor kb check [--kb DIR]")
		}
		return runKBCheck(args[1:], stdout, stderr)
	case "stats":
		return runStats(ctx, args, getenv, stdout, stderr)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: dmdoctor config check [--kb DIR] [--db FILE] [--http ADDR] [--config FILE]")
		}
		var fv flagValues
		fs := newFlagSet("config check", stderr)
		addFlags(fs, &fv)
		if err := fs.Parse(args[1:]); err != nil {
			return exitCode(2)
		}
		return checkConfig(ctx, fv, getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "loadtest":
		return runLoadtest(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// noChannels hides the channels' tokens: the terminal chat never starts
// them.
func noChannels(getenv func(string) string) func(string) string {
	return func(k string) string {
		if strings.HasPrefix(k, "TELEGRAM_") || strings.HasPrefix(k, "DISCORD_") {
			return ""
		}
		return getenv(k)
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.TrimSpace("dmdoctor "+name), flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := newFlagSet(name, stderr)
	dir := fs.String("kb", "", "load the knowledge base from `DIR` instead of the embedded one")
	return fs, dir
}

// chat runs the terminal chat. Logs go to stderr at warning level and
// above unless DMDOCTOR_LOG_LEVEL says otherwise.
func chat(ctx context.Context, c config, asJSON, mod bool, stdin io.Reader, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := build(ctx, c, logger, false)
	if err != nil {
		return err
	}
	defer a.store.Close()
	e := a.engine
	prompt := ""
	if isTerminal(stdin) && !asJSON {
		prompt = "you> "
		fmt.Fprintln(stdout, "dmdoctor terminal chat. Type your message; a number picks an option; Ctrl-D quits.")
		if mod {
			fmt.Fprintln(stdout, "You are the moderators too: \"/mod help\" lists their commands.")
		}
	}
	ch := &console.Chat{Engine: e, In: stdin, Out: stdout, JSON: asJSON, Prompt: prompt, Mod: mod}
	ch.Register(e)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ticks := make(chan error, 1)
	go func() { ticks <- e.Run(ctx, 10*time.Second) }()
	err = ch.Run(ctx)
	cancel()
	return errors.Join(err, <-ticks)
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs, dir := newFlags("eval", stderr)
	data := fs.String("data", "", "evaluate on this labelled JSONL `FILE` (default: the KB's eval.jsonl)")
	train := fs.String("train", "", "train on this labelled JSONL `FILE` (default: the KB's training.jsonl)")
	val := fs.String("val", "", "choose the out-of-scope threshold on this labelled JSONL `FILE`")
	asJSON := fs.Bool("json", false, "write the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	var k *kb.KB
	needKB := *train == "" || *data == ""
	if needKB {
		var err error
		if k, err = brain.LoadKB(*dir); err != nil {
			return err
		}
	}
	trainSet, err := examples(*train, k, func(k *kb.KB) []kb.Example { return k.Training })
	if err != nil {
		return err
	}
	testSet, err := examples(*data, k, func(k *kb.KB) []kb.Example { return k.Eval })
	if err != nil {
		return err
	}
	if len(testSet) == 0 {
		return errors.New("eval: no evaluation data (give --data FILE)")
	}
	var m *intents.Model
	if *train == "" {
		// The shipped model: the KB's options, tuned on its dev.jsonl.
		m, err = brain.Train(k)
	} else {
		m, err = intents.Train(trainSet, intents.Options{})
	}
	if err != nil {
		return err
	}
	if *val != "" {
		valSet, err := readJSONL(*val)
		if err != nil {
			return err
		}
		intents.TuneThreshold(m, valSet)
	}
	rep := intents.Evaluate(m, testSet)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if *val != "" {
		fmt.Fprintf(stdout, "out-of-scope threshold chosen on %s: %.4f\n", *val, m.Threshold())
	}
	return rep.WriteText(stdout)
}

func examples(file string, k *kb.KB, fromKB func(*kb.KB) []kb.Example) ([]intents.Example, error) {
	if file != "" {
		return readJSONL(file)
	}
	return brain.Examples(fromKB(k)), nil
}

func readJSONL(file string) ([]intents.Example, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exs, err := intents.ReadJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return exs, nil
}

func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dir := newFlags("test", stderr)
	verbose := fs.Bool("v", false, "print every story's transcript")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if fs.NArg() != 1 {
		return errors.New("usage: dmdoctor test [--kb DIR] [-v] FILE|DIR")
	}
	files, err := story.Load(fs.Arg(0))
	if err != nil {
		return err
	}
	k, m, err := brain.Start(*dir)
	if err != nil {
		return err
	}
	newEngine := func(clock func() time.Time) (*bot.Engine, error) {
		return bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New(), Clock: clock, RateMessages: -1})
	}
	passed, failed := 0, 0
	for _, f := range files {
		for _, s := range f.Stories {
			res, err := story.Run(ctx, newEngine, f.Path, s)
			if err != nil {
				return err
			}
			if *verbose {
				fmt.Fprintln(stdout, res.Transcript)
			}
			if res.Passed() {
				passed++
				fmt.Fprintf(stdout, "ok    %s: %s\n", f.Path, s.Name)
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %s\n", f.Path, s.Name)
			for _, fl := range res.Failures {
				fmt.Fprintf(stdout, "    %s\n", fl)
			}
			if !*verbose {
				fmt.Fprintf(stdout, "  transcript:\n%s\n", indent(res.Transcript, "    "))
			}
		}
	}
	fmt.Fprintf(stdout, "%d stories: %d passed, %d failed\n", passed+failed, passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d stories failed", failed, passed+failed)
	}
	return nil
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func runKBCheck(args []string, stdout, stderr io.Writer) error {
	fs, dir := newFlags("kb check", stderr)
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	k, err := brain.LoadKB(*dir)
	if err != nil {
		return err
	}
	where := *dir
	if where == "" {
		where = "embedded knowledge base"
	}
	fmt.Fprintf(stdout, "%s: ok: %d causes, %d triage questions, %d FAQ, %d checklist items, %d training and %d evaluation examples\n",
		where, len(k.Causes), len(k.Triage.Questions), len(k.FAQ), len(k.Checklist.Items), len(k.Training), len(k.Eval))
	return nil
}
