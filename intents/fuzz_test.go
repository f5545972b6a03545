package intents

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"", " ", "hi", "I can't send DMs!!! 😭😭", "plsss help meee", "u.s.a. p.m.", "\xff\xfe", "где мои деньги",
	"你好世界", "❤️👍🏽👨\u200d👩\u200d👧", ":) :( <3 :-D", "o'hare's y'all'd", "3pm 2019 $20", "'''", "a.b.c.d.e.f.g.h.i.j",
	"hel\u00adlo\u200bworld", "\u0301\u0301a", "İSTANBUL ǅ ẞ", strings.Repeat("ab", 100),
}

func FuzzNormalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Normalize(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, got)
		}
		if got != strings.Join(strings.Fields(got), " ") || strings.ContainsAny(got, "\t\n\r") {
			t.Fatalf("Normalize(%q) = %q: empty tokens or stray space", s, got)
		}
		for _, r := range got {
			if r != ' ' && unicode.ToLower(r) != r {
				t.Fatalf("Normalize(%q) = %q: %q not lower-case", s, got, r)
			}
			if unicode.IsPunct(r) {
				t.Fatalf("Normalize(%q) = %q: punctuation %q", s, got, r)
			}
			if unicode.IsDigit(r) && r != '0' {
				t.Fatalf("Normalize(%q) = %q: digit %q not mapped to 0", s, got, r)
			}
		}
		if again := Normalize(got); again != got {
			t.Fatalf("Normalize not idempotent: %q → %q → %q", s, got, again)
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	m := trainedSupport(f)
	f.Fuzz(func(t *testing.T, s string) {
		r := m.Classify(s)
		checkResult(t, m, s, r)
		// The tokens the model reads are non-empty valid UTF-8.
		var tz tokenizer
		tz.run(s, m.words, maxTokens)
		for _, sp := range tz.toks {
			tok := tz.out[sp.start:sp.end]
			if len(tok) == 0 || !utf8.Valid(tok) {
				t.Fatalf("Classify(%q): token %q empty or invalid UTF-8", s, tok)
			}
		}
	})
}
