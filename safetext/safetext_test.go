package safetext_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/dmdoctor/dmdoctor/safetext"
)

// hostile are payloads people paste to break, spoof or ping.
var hostile = []string{
	"@everyone free skins at https://evil.example",
	"@here look",
	"<@123456789012345678> <@&987654321098765432> <#111111111111111111>",
	"**bold** __under__ ~~strike~~ ||spoiler|| `code` ```block```",
	"[click me](https://evil.example)",
	"# heading\n> quote\n- list\n1. numbered",
	"<b>bold</b> <a href=\"https://evil.example\">link</a> &amp; &lt;",
	"<script>alert(1)</script>",
	"\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J",
	"carriage\rreturn overwrite",
	"abc\u202Egnp.exe", // right-to-left override
	"\u2066isolate\u2069 \u200Fmark",
	"zero\u200Bwidth\u200Cnon\uFEFFjoiner",
	"soft\u00ADhyphen",
	"\xff\xfe invalid utf-8",
	"null\x00byte and bell\x07",
	"👨\u200d👩\u200d👧 family stays",
}

// formatOrControl finds a character no output may contain.
func formatOrControl(s string) (rune, bool) {
	for _, r := range s {
		if r == '\n' || r == '\t' || r == '\u200d' {
			continue
		}
		if unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != '\u200b') {
			return r, true
		}
	}
	return 0, false
}

func TestHostilePayloadsInEveryPlace(t *testing.T) {
	places := []struct {
		name  string
		fn    func(string) string
		check func(t *testing.T, in, out string)
	}{
		{"telegram HTML", safetext.HTML, func(t *testing.T, in, out string) {
			// Only entities may carry < > & " ': no tag can survive.
			if strings.ContainsAny(out, "<>\"'") {
				t.Errorf("markup survives: %q", out)
			}
			for i := strings.IndexByte(out, '&'); i >= 0; i = strings.IndexByte(out[i+1:], '&') + i + 1 {
				rest := out[i:]
				ok := false
				for _, ent := range []string{"&amp;", "&lt;", "&gt;", "&#34;", "&#39;"} {
					ok = ok || strings.HasPrefix(rest, ent)
				}
				if !ok {
					t.Errorf("bare & in %q", out)
					break
				}
				if strings.IndexByte(out[i+1:], '&') < 0 {
					break
				}
			}
		}},
		{"discord markdown", safetext.Markdown, func(t *testing.T, in, out string) {
			if strings.Contains(strings.ToLower(out), "@everyone") || strings.Contains(strings.ToLower(out), "@here") {
				t.Errorf("mass mention survives: %q", out)
			}
			for _, mention := range []string{"<@", "<#", "<t:"} {
				for i := strings.Index(out, mention); i >= 0; {
					if i == 0 || out[i-1] != '\\' {
						t.Errorf("mention syntax %q survives: %q", mention, out)
						break
					}
					j := strings.Index(out[i+1:], mention)
					if j < 0 {
						break
					}
					i += j + 1
				}
			}
			// Every markdown character outside a URL is escaped.
			for _, word := range strings.Fields(out) {
				if strings.HasPrefix(word, "http://") || strings.HasPrefix(word, "https://") {
					continue
				}
				for i := 0; i < len(word); i++ {
					if strings.IndexByte("*_~|`[]<>", word[i]) >= 0 && (i == 0 || word[i-1] != '\\') {
						t.Errorf("unescaped %q in %q", word[i], out)
					}
				}
			}
			if strings.Contains(out, "](") && !strings.Contains(out, `\](`) {
				t.Errorf("masked link survives: %q", out)
			}
		}},
		{"terminal", safetext.Terminal, func(t *testing.T, in, out string) {
			if strings.ContainsAny(out, "\x1b\r\x07\x00") {
				t.Errorf("control characters survive: %q", out)
			}
		}},
		{"plain", safetext.Strip, func(t *testing.T, in, out string) {}},
	}
	for _, p := range places {
		for _, in := range hostile {
			out := p.fn(in)
			if r, bad := formatOrControl(out); bad {
				t.Errorf("%s: %q keeps U+%04X: %q", p.name, in, r, out)
			}
			if !strings.ContainsRune(in, '\u200d') || !strings.Contains(out, "👨\u200d👩") {
				if strings.Contains(in, "family") {
					t.Errorf("%s: emoji sequence broken: %q", p.name, out)
				}
			}
			t.Run(p.name, func(t *testing.T) { p.check(t, in, out) })
		}
	}
}

func TestCleanTextIsUntouched(t *testing.T) {
	for _, s := range []string{"my dms won't send 😭", "Привет", "línea\nsegunda\tcol"} {
		if got := safetext.Strip(s); got != s {
			t.Errorf("Strip(%q) = %q", s, got)
		}
	}
	if got := safetext.HTML("a < b & c"); got != "a &lt; b &amp; c" {
		t.Errorf("HTML = %q", got)
	}
	if got := safetext.Markdown("see https://x.example/a_b_c and *this*"); got != `see https://x.example/a_b_c and \*this\*` {
		t.Errorf("Markdown = %q", got)
	}
}

func FuzzStrip(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{safetext.Strip(s), safetext.HTML(s), safetext.Markdown(s), safetext.Terminal(s)} {
			if r, bad := formatOrControl(out); bad {
				t.Fatalf("%q keeps U+%04X", s, r)
			}
		}
		if safetext.Strip(safetext.Strip(s)) != safetext.Strip(s) {
			t.Fatalf("Strip is not idempotent on %q", s)
		}
	})
}
