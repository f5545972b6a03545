// Package story runs conversation test stories: YAML files of user turns,
// each with what the assistant is expected to do at that step (intent,
// cause, state, buttons, reply text, hand-off, outcome), in the manner of
// Rasa's test stories. `dmdoctor test` and the golden transcript tests use
// it; it drives the real engine, classifier and flows on a memory store.
package story

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// File is one story file.
type File struct {
	Stories []Story `yaml:"stories"`
	Path    string  `yaml:"-"`
}

// Story is one conversation.
type Story struct {
	Name  string `yaml:"name"`
	Steps []Step `yaml:"steps"`
}

// Step is one user turn and what must follow it. Exactly one of User,
// Button and Command is set (Command may come with User as its text).
type Step struct {
	User    string `yaml:"user"`    // typed text
	Button  string `yaml:"button"`  // a button of the previous turn, by label or ID
	Command string `yaml:"command"` // start, help, troubleshoot, human, cancel
	NonText bool   `yaml:"non_text"`

	Intent  string   `yaml:"intent"`  // classifier intent
	Cause   string   `yaml:"cause"`   // cause in focus after the turn ("-" for none)
	State   string   `yaml:"state"`   // phase after the turn
	Buttons []string `yaml:"buttons"` // labels of all buttons of the turn, in order
	Reply   []string `yaml:"reply"`   // substrings the replies contain (case-insensitive)
	Handoff string   `yaml:"handoff"` // hand-off reason raised on this turn
	Outcome string   `yaml:"outcome"` // outcome recorded on this turn
	Stale   bool     `yaml:"stale"`   // the press was on a closed question
}

// Load reads story files from a file or a directory (all *.yaml and *.yml
// files in it, sorted).
func Load(path string) ([]File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var names []string
	if st.IsDir() {
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(path, pat))
			names = append(names, m...)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("story: no *.yaml files in %s", path)
		}
	} else {
		names = []string{path}
	}
	var files []File
	for _, n := range names {
		f, err := LoadFile(os.DirFS(filepath.Dir(n)), filepath.Base(n))
		if err != nil {
			return nil, err
		}
		f.Path = n
		files = append(files, f)
	}
	return files, nil
}

// LoadFile reads one story file.
func LoadFile(fsys fs.FS, name string) (File, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return File{}, err
	}
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return File{}, fmt.Errorf("story: %s: %w", name, err)
	}
	f.Path = name
	if len(f.Stories) == 0 {
		return File{}, fmt.Errorf("story: %s: no stories", name)
	}
	for i, s := range f.Stories {
		if s.Name == "" {
			return File{}, fmt.Errorf("story: %s: stories[%d]: no name", name, i)
		}
		for j, st := range s.Steps {
			n := 0
			for _, set := range []bool{st.User != "" && st.Command == "", st.Button != "", st.Command != "", st.NonText} {
				if set {
					n++
				}
			}
			if n != 1 {
				return File{}, fmt.Errorf("story: %s: %q step %d: give exactly one of user, button, command, non_text", name, s.Name, j+1)
			}
		}
	}
	return f, nil
}

// NewEngine builds a fresh engine for one story.
type NewEngine func() (*bot.Engine, error)

// Result is the outcome of one story.
type Result struct {
	File       string
	Name       string
	Failures   []string // empty when the story passed
	Transcript string
}

// Passed reports whether every step matched.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// Run plays a story against a fresh engine and checks every step.
func Run(ctx context.Context, newEngine NewEngine, file string, s Story) (Result, error) {
	e, err := newEngine()
	if err != nil {
		return Result{}, err
	}
	res := Result{File: file, Name: s.Name}
	var tr strings.Builder
	fmt.Fprintf(&tr, "# %s\n", s.Name)
	var prev []flows.Button
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, st := range s.Steps {
		m := bot.Message{Channel: "story", UserID: "tester", Address: "tester",
			ID: fmt.Sprintf("m%d", i), Text: st.User, Command: st.Command, NonText: st.NonText,
			Time: clock.Add(time.Duration(i) * time.Minute)}
		label := describe(st)
		if st.Button != "" {
			id, ok := findButton(prev, st.Button)
			if !ok {
				res.Failures = append(res.Failures, fmt.Sprintf("step %d (%s): no button %q; the buttons were %s",
					i+1, label, st.Button, labels(prev)))
				break
			}
			m.Button = id
		}
		t, err := e.Handle(ctx, m)
		if err != nil {
			return res, err
		}
		writeTurn(&tr, label, t)
		var bs []flows.Button
		for _, r := range t.Replies {
			bs = append(bs, r.Buttons...)
		}
		if len(bs) > 0 {
			prev = bs
		}
		res.Failures = append(res.Failures, check(i+1, label, st, t, bs)...)
	}
	res.Transcript = tr.String()
	return res, nil
}

func describe(st Step) string {
	switch {
	case st.Command != "":
		return "/" + st.Command + " " + st.User
	case st.Button != "":
		return "[" + st.Button + "]"
	case st.NonText:
		return "(sticker)"
	}
	return fmt.Sprintf("%q", st.User)
}

func findButton(bs []flows.Button, want string) (string, bool) {
	for _, b := range bs {
		if strings.EqualFold(b.Label, want) || b.ID == want {
			return b.ID, true
		}
	}
	return "", false
}

func labels(bs []flows.Button) string {
	if len(bs) == 0 {
		return "none"
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = fmt.Sprintf("%q", b.Label)
	}
	return strings.Join(out, ", ")
}

func check(n int, label string, st Step, t bot.Turn, bs []flows.Button) []string {
	var fails []string
	fail := func(what, want, got string) {
		fails = append(fails, fmt.Sprintf("step %d (%s): %s\n      want: %s\n       got: %s", n, label, what, want, got))
	}
	if st.Intent != "" && st.Intent != t.Intent {
		fail("intent", st.Intent, fmt.Sprintf("%s (confidence %.2f)", orNone(t.Intent), t.Confidence))
	}
	if st.Cause != "" {
		want := st.Cause
		if want == "-" {
			want = ""
		}
		if want != t.Cause {
			fail("cause", orNone(want), orNone(t.Cause))
		}
	}
	if st.State != "" && st.State != string(t.Phase) {
		fail("state", st.State, string(t.Phase))
	}
	if st.Buttons != nil {
		got := make([]string, len(bs))
		for i, b := range bs {
			got[i] = b.Label
		}
		if !slices.Equal(st.Buttons, got) {
			fail("buttons", fmt.Sprintf("%q", st.Buttons), fmt.Sprintf("%q", got))
		}
	}
	all := strings.ToLower(replyText(t))
	for _, want := range st.Reply {
		if !strings.Contains(all, strings.ToLower(want)) {
			fail("reply text", fmt.Sprintf("contains %q", want), fmt.Sprintf("%q", replyText(t)))
		}
	}
	if st.Handoff != "" {
		got := ""
		if t.Handoff != nil {
			got = t.Handoff.Reason
		}
		if got != st.Handoff {
			fail("hand-off", st.Handoff, orNone(got))
		}
	}
	if st.Outcome != "" && st.Outcome != t.Outcome {
		fail("outcome", st.Outcome, orNone(t.Outcome))
	}
	if st.Stale && !t.Stale {
		fail("stale", "true", "false")
	}
	return fails
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func replyText(t bot.Turn) string {
	parts := make([]string, len(t.Replies))
	for i, r := range t.Replies {
		parts[i] = r.Text
	}
	return strings.Join(parts, "\n")
}

// writeTurn renders a turn as a readable transcript.
func writeTurn(w io.Writer, label string, t bot.Turn) {
	fmt.Fprintf(w, "\n> %s\n", label)
	if t.Intent != "" {
		fmt.Fprintf(w, "  (intent %s %.2f)\n", t.Intent, t.Confidence)
	}
	for _, r := range t.Replies {
		for _, line := range strings.Split(r.Text, "\n") {
			fmt.Fprintf(w, "< %s\n", line)
		}
		for _, b := range r.Buttons {
			fmt.Fprintf(w, "  [%s] %s\n", b.ID, b.Label)
		}
	}
	fmt.Fprintf(w, "  (state %s", t.Phase)
	if t.Cause != "" {
		fmt.Fprintf(w, ", cause %s", t.Cause)
	}
	if t.Handoff != nil {
		fmt.Fprintf(w, ", hand-off %s", t.Handoff.Reason)
	}
	if t.Outcome != "" {
		fmt.Fprintf(w, ", outcome %s", t.Outcome)
	}
	fmt.Fprintln(w, ")")
}
