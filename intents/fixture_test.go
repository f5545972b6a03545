package intents

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// The support fixture: about 2,000 chat-style lines of 17 intents, generated
// deterministically from the templates in testdata/support17.tmpl with chat
// noise (elongation, dropped apostrophes, emoji, shouting). It feeds the
// benchmarks and the tests that must not depend on CLINC150.

const fixtureTemplates = "testdata/support17.tmpl"

// fixtureLines is the number of lines generated per intent.
const fixtureLines = 118

// supportFixture returns the generated lines, grouped by intent.
func supportFixture(tb testing.TB) []Example {
	tb.Helper()
	ex, err := generateFixture(fixtureTemplates, fixtureLines, 42)
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// splitEvery splits data into the lines whose index is not, and is, a
// multiple of k.
func splitEvery(data []Example, k int) (rest, every []Example) {
	for i, e := range data {
		if i%k == 0 {
			every = append(every, e)
		} else {
			rest = append(rest, e)
		}
	}
	return rest, every
}

type template []segment

// segment is literal text (one alternative) or a choice among alternatives.
type segment []string

func parseTemplates(path string) (intents []string, tmpls map[string][]template, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	macros := map[string][]string{}
	tmpls = map[string][]template{}
	cur := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "@"):
			name, alts, ok := strings.Cut(line[1:], "=")
			if !ok {
				return nil, nil, fmt.Errorf("%s:%d: macro without =", path, n)
			}
			for _, a := range strings.Split(alts, "|") {
				macros[strings.TrimSpace(name)] = append(macros[strings.TrimSpace(name)], strings.TrimSpace(a))
			}
		case strings.HasPrefix(line, "["):
			cur = strings.Trim(line, "[]")
			intents = append(intents, cur)
		default:
			if cur == "" {
				return nil, nil, fmt.Errorf("%s:%d: template before any [intent]", path, n)
			}
			t, err := parseTemplate(line, macros)
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			tmpls[cur] = append(tmpls[cur], t)
		}
	}
	return intents, tmpls, sc.Err()
}

func parseTemplate(line string, macros map[string][]string) (template, error) {
	var t template
	for line != "" {
		switch {
		case line[0] == '{':
			end := strings.IndexByte(line, '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed {")
			}
			t = append(t, strings.Split(line[1:end], "|"))
			line = line[end+1:]
		case line[0] == '$':
			end := 1
			for end < len(line) && (line[end] >= 'a' && line[end] <= 'z') {
				end++
			}
			alts, ok := macros[line[1:end]]
			if !ok {
				return nil, fmt.Errorf("unknown macro %s", line[:end])
			}
			t = append(t, alts)
			line = line[end:]
		default:
			end := strings.IndexAny(line, "{$")
			if end < 0 {
				end = len(line)
			}
			t = append(t, segment{line[:end]})
			line = line[end:]
		}
	}
	return t, nil
}

var fixtureEmoji = []string{"😭", "🙏", "😡", "👍", "😂", "🤔"}

// generateFixture makes perIntent distinct lines for each intent.
func generateFixture(path string, perIntent int, seed uint64) ([]Example, error) {
	intents, tmpls, err := parseTemplates(path)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []Example
	for _, intent := range intents {
		seen := map[string]bool{}
		ts := tmpls[intent]
		for tries := 0; len(seen) < perIntent && tries < 100*perIntent; tries++ {
			var b strings.Builder
			for _, seg := range ts[rng.IntN(len(ts))] {
				b.WriteString(seg[rng.IntN(len(seg))])
			}
			text := noisy(strings.Join(strings.Fields(b.String()), " "), rng)
			if text == "" || seen[text] {
				continue
			}
			seen[text] = true
			out = append(out, Example{Text: text, Intent: intent})
		}
	}
	return out, nil
}

// noisy adds the noise of chat to a line.
func noisy(s string, rng *rand.Rand) string {
	if rng.IntN(4) == 0 {
		s = strings.ReplaceAll(s, "'", "")
	}
	if rng.IntN(5) == 0 { // elongate the last letter of a word
		words := strings.Fields(s)
		if len(words) > 0 {
			i := rng.IntN(len(words))
			w := words[i]
			last, _ := utf8.DecodeLastRuneInString(w)
			words[i] = w + strings.Repeat(string(last), 2+rng.IntN(4))
			s = strings.Join(words, " ")
		}
	}
	switch rng.IntN(8) {
	case 0:
		s = strings.ToUpper(s)
	case 1, 2:
		if s != "" {
			s = strings.ToUpper(s[:1]) + s[1:]
		}
	}
	switch rng.IntN(6) {
	case 0:
		s += " " + fixtureEmoji[rng.IntN(len(fixtureEmoji))]
	case 1:
		s += "??"
	case 2:
		s += "!!!"
	}
	return s
}

func TestSupportFixture(t *testing.T) {
	data := supportFixture(t)
	counts := map[string]int{}
	for _, e := range data {
		counts[e.Intent]++
	}
	if len(counts) != 17 {
		t.Errorf("fixture has %d intents, want 17", len(counts))
	}
	for intent, n := range counts {
		if n != fixtureLines {
			t.Errorf("intent %s has %d lines, want %d", intent, n, fixtureLines)
		}
	}
}
