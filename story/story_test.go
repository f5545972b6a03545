package story_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/story"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/golden")

// shippedEngines returns how story.Run makes its engines: over the shipped
// knowledge base and classifier, each with a fresh memory store.
func shippedEngines(t *testing.T) func(clock func() time.Time) (*bot.Engine, error) {
	t.Helper()
	k, m, err := brain.Start("")
	if err != nil {
		t.Fatal(err)
	}
	return func(clock func() time.Time) (*bot.Engine, error) {
		return bot.New(bot.Config{KB: k, Classifier: m, Store: memory.New(), Clock: clock})
	}
}

// TestShippedStories plays every story in ../stories against the real
// knowledge base and classifier, checks each step, and compares the whole
// transcript with testdata/golden (regenerate with -update and review the
// diff).
func TestShippedStories(t *testing.T) {
	newEngine := shippedEngines(t)
	files, err := story.Load("../stories")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var all strings.Builder
		for _, s := range f.Stories {
			res, err := story.Run(context.Background(), newEngine, f.Path, s)
			if err != nil {
				t.Fatalf("%s: %s: %v", f.Path, s.Name, err)
			}
			for _, fl := range res.Failures {
				t.Errorf("%s: %s: %s", f.Path, s.Name, fl)
			}
			all.WriteString(res.Transcript + "\n")
		}
		golden := filepath.Join("testdata", "golden", strings.TrimSuffix(filepath.Base(f.Path), filepath.Ext(f.Path))+".txt")
		if *update {
			if err := os.WriteFile(golden, []byte(all.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./story -update to create it)", err)
		}
		if got := all.String(); got != string(want) {
			t.Errorf("%s: transcript differs from %s (go test ./story -update, then review git diff):\n%s",
				f.Path, golden, firstDiff(string(want), got))
		}
	}
}

// firstDiff shows the first differing line with some context.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n   got: %s", i+1, w, g)
		}
	}
	return ""
}

func TestLoadRejectsBadStories(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"two.yaml":     "stories:\n  - name: x\n    steps:\n      - {user: hi, button: Yes}\n",
		"none.yaml":    "stories:\n  - name: x\n    steps:\n      - {intent: greet}\n",
		"noname.yaml":  "stories:\n  - steps:\n      - {user: hi}\n",
		"unknown.yaml": "stories:\n  - name: x\n    steps:\n      - {usr: hi}\n",
		"wait.yaml":    "stories:\n  - name: x\n    steps:\n      - {wait: soon}\n",
		"empty.yaml":   "",
	}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := story.Load(p); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}

func TestFailingStoryIsReported(t *testing.T) {
	newEngine := shippedEngines(t)
	s := story.Story{Name: "wrong", Steps: []story.Step{{User: "hi", Intent: "human", State: "triage"}, {Button: "Nope"}}}
	res, err := story.Run(context.Background(), newEngine, "x.yaml", s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed() || len(res.Failures) != 3 {
		t.Fatalf("want 3 failures (intent, state, missing button), got %q", res.Failures)
	}
}
