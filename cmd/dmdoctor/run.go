package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
  dmdoctor                     run the configured channels (terminal chat when none)
  dmdoctor chat [--json]       talk to the assistant in the terminal
  dmdoctor eval [--data F] [--train F] [--val F] [--json]
                               measure the intent classifier
  dmdoctor test FILE|DIR       run conversation test stories
  dmdoctor kb check            validate a knowledge base

Every command takes --kb DIR to use a knowledge base from DIR instead of
the embedded one.
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
		fs, dir := newFlags("", stderr)
		if err := fs.Parse(args); err != nil {
			return exitCode(2)
		}
		configured, err := serve(ctx, *dir, getenv, stderr)
		if configured {
			return err
		}
		return runChat(ctx, cmd, args, getenv, stdin, stdout, stderr)
	case "chat":
		return runChat(ctx, cmd, args, getenv, stdin, stdout, stderr)
	case "eval":
		return runEval(args, stdout, stderr)
	case "test":
		return runTest(ctx, args, stdout, stderr)
	case "kb":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: dmdoctor kb check [--kb DIR]")
		}
		return runKBCheck(args[1:], stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("dmdoctor "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("kb", "", "load the knowledge base from `DIR` instead of the embedded one")
	return fs, dir
}

// newEngine builds the assistant on a knowledge base with a memory store.
func newEngine(k *kb.KB, m *intents.Model) (*bot.Engine, error) {
	return bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New()})
}

func runChat(ctx context.Context, cmd string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, dir := newFlags("chat", stderr)
	asJSON := fs.Bool("json", false, "write one JSON object per reply")
	mod := fs.Bool("mod", false, "the terminal is the moderators' place too: tickets are printed, \"/mod help\" lists the commands")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	k, err := brain.LoadKB(*dir)
	if err != nil {
		return err
	}
	m, err := brain.Train(k)
	if err != nil {
		return err
	}
	e, err := newEngine(k, m)
	if err != nil {
		return err
	}
	prompt := ""
	if isTerminal(stdin) && !*asJSON {
		prompt = "you> "
		fmt.Fprintln(stdout, "dmdoctor terminal chat. Type your message; a number picks an option; Ctrl-D quits.")
	}
	c := &console.Chat{Engine: e, In: stdin, Out: stdout, JSON: *asJSON, Prompt: prompt, Mod: *mod}
	c.Register(e)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ticks := make(chan error, 1)
	go func() { ticks <- e.Run(ctx, 10*time.Second) }()
	err = c.Run(ctx)
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
	m, err := intents.Train(trainSet, intents.Options{})
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
	k, err := brain.LoadKB(*dir)
	if err != nil {
		return err
	}
	m, err := brain.Train(k)
	if err != nil {
		return err
	}
	newEngine := func(clock func() time.Time) (*bot.Engine, error) {
		return bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New(), Clock: clock})
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
