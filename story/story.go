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
	"strconv"
	"strings"
	"sync"
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

// Step is one user turn, a moderator's action or a wait, and what must
// follow it. Exactly one of User, Button, Command, NonText, Mod and Wait is
// set (Command may come with User as its text).
type Step struct {
	User    string `yaml:"user"`    // typed text
	Button  string `yaml:"button"`  // a button of the previous turn, by label or ID
	Command string `yaml:"command"` // start, help, troubleshoot, human, cancel
	NonText bool   `yaml:"non_text"`
	// Mod is a moderator's command ("claim 1", "reply 1 hi", "resolve 1");
	// what the user is sent because of it is checked like a turn's replies.
	Mod string `yaml:"mod"`
	// Wait moves the clock on ("16m") and runs the engine's timed work.
	Wait string `yaml:"wait"`
	// ModReply lists substrings of what the moderator is told.
	ModReply []string `yaml:"mod_reply"`

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
			if st.Wait != "" {
				if _, err := time.ParseDuration(st.Wait); err != nil {
					return File{}, fmt.Errorf("story: %s: %q step %d: wait: %w", name, s.Name, j+1, err)
				}
			}
			for _, set := range []bool{st.User != "" && st.Command == "", st.Button != "", st.Command != "", st.NonText, st.Mod != "", st.Wait != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				return File{}, fmt.Errorf("story: %s: %q step %d: give exactly one of user, button, command, non_text, mod, wait", name, s.Name, j+1)
			}
		}
	}
	return f, nil
}

// NewEngine builds a fresh engine for one story, on the story's clock.
type NewEngine func(clock func() time.Time) (*bot.Engine, error)

// Channel is the channel name stories talk on.
const Channel = "story"

// Result is the outcome of one story.
type Result struct {
	File       string
	Name       string
	Failures   []string // empty when the story passed
	Transcript string
}

// Passed reports whether every step matched.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// capture is the story channel's Sender and moderators' place: it keeps
// what the engine delivered.
type capture struct {
	mu      sync.Mutex
	replies []flows.Reply
	mods    []string
}

func (c *capture) Send(ctx context.Context, to bot.Address, rs []flows.Reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies = append(c.replies, rs...)
	return nil
}

func (c *capture) take() []flows.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.replies
	c.replies = nil
	return r
}

func (c *capture) Name() string { return Channel }

func (c *capture) Post(ctx context.Context, t bot.Ticket, v bot.TicketView) (string, error) {
	c.note("[ticket] " + v.Text)
	return strconv.FormatInt(t.ID, 10), nil
}

func (c *capture) Update(ctx context.Context, t bot.Ticket, ref string, v bot.TicketView) error {
	c.note("[ticket " + string(t.State) + "]")
	return nil
}

func (c *capture) Notify(ctx context.Context, t bot.Ticket, ref, text string) error {
	c.note(text)
	return nil
}

func (c *capture) note(s string) {
	c.mu.Lock()
	c.mods = append(c.mods, s)
	c.mu.Unlock()
}

func (c *capture) takeMods() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mods
	c.mods = nil
	return m
}

// Run plays a story against a fresh engine and checks every step.
func Run(ctx context.Context, newEngine NewEngine, file string, s Story) (Result, error) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, err := newEngine(clock)
	if err != nil {
		return Result{}, err
	}
	cap := &capture{}
	e.Register(Channel, cap)
	e.AddModPlace(cap)
	res := Result{File: file, Name: s.Name}
	var tr strings.Builder
	fmt.Fprintf(&tr, "# %s\n", s.Name)
	var prev []flows.Button
	for i, st := range s.Steps {
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		label := describe(st)
		var t bot.Turn
		var modText string
		switch {
		case st.Wait != "":
			d, _ := time.ParseDuration(st.Wait)
			mu.Lock()
			now = now.Add(d)
			mu.Unlock()
			if err := e.Tick(ctx); err != nil {
				return res, err
			}
			t.Replies = cap.take()
		case st.Mod != "":
			a, ok := bot.ParseModCommand(st.Mod)
			if !ok {
				return res, fmt.Errorf("story: %s: %q step %d: not a moderator command: %q", file, s.Name, i+1, st.Mod)
			}
			a.Place, a.Moderator, a.Name, a.IsModerator, a.MsgID = Channel, "story:mod", "Mo", true, fmt.Sprint("mod", i)
			r, err := e.Moderate(ctx, a)
			if err != nil {
				return res, err
			}
			modText = r.Text
			t.Replies = cap.take()
		default:
			m := bot.Message{Channel: Channel, UserID: "tester", UserName: "Tess", Address: "tester",
				ID: fmt.Sprintf("m%d", i), Text: st.User, Command: st.Command, NonText: st.NonText, Time: clock()}
			if st.Button != "" {
				id, ok := findButton(prev, st.Button)
				if !ok {
					res.Failures = append(res.Failures, fmt.Sprintf("step %d (%s): no button %q; the buttons were %s",
						i+1, label, st.Button, labels(prev)))
					res.Transcript = tr.String()
					return res, nil
				}
				m.Button = id
			}
			t, err = e.Handle(ctx, m)
			if err != nil {
				return res, err
			}
			t.Replies = cap.take()
		}
		mods := cap.takeMods()
		if modText != "" {
			mods = append(mods, modText)
		}
		writeTurn(&tr, label, t, mods)
		var bs []flows.Button
		for _, r := range t.Replies {
			bs = append(bs, r.Buttons...)
		}
		if len(bs) > 0 {
			prev = bs
		}
		res.Failures = append(res.Failures, check(i+1, label, st, t, bs, mods)...)
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
	case st.Mod != "":
		return "moderator: " + st.Mod
	case st.Wait != "":
		return "(wait " + st.Wait + ")"
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

func check(n int, label string, st Step, t bot.Turn, bs []flows.Button, mods []string) []string {
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
	modAll := strings.ToLower(strings.Join(mods, "\n"))
	for _, want := range st.ModReply {
		if !strings.Contains(modAll, strings.ToLower(want)) {
			fail("moderators' place", fmt.Sprintf("contains %q", want), fmt.Sprintf("%q", strings.Join(mods, "\n")))
		}
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
func writeTurn(w io.Writer, label string, t bot.Turn, mods []string) {
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
	for _, m := range mods {
		for _, line := range strings.Split(m, "\n") {
			fmt.Fprintf(w, "  [mods] %s\n", line)
		}
	}
	if t.Phase == "" {
		return
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
