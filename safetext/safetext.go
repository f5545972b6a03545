// Package safetext makes text safe to show in each place dmdoctor shows
// it: Telegram messages (HTML parse mode), Discord messages (markdown and
// mentions), the terminal, and plain stored text. Everything a user (or a
// moderator, or the knowledge base) wrote passes through one of these
// before it is shown anywhere else. It is a leaf: the channels and the
// engine use it.
package safetext

import (
	"html"
	"regexp"
	"strings"
	"unicode"
)

// zwj is the zero-width joiner, kept because emoji sequences (👨‍👩‍👧)
// are built with it.
const zwj = '\u200d'

// Strip drops what can disguise or corrupt text: control characters other
// than newline and tab (terminal escape sequences among them), Unicode
// format characters (bidi overrides and isolates, zero-width spaces and
// non-joiners, the byte-order mark, soft hyphens; the zero-width joiner
// of emoji sequences stays), and replaces invalid UTF-8 with U+FFFD.
func Strip(s string) string {
	clean := true
	for _, r := range s {
		if bad(r) || r == '\uFFFD' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if bad(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func bad(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != zwj)
}

// HTML is text for Telegram's HTML parse mode: stripped, then <, >, &, '
// and " escaped as entities, so nothing is read as markup.
func HTML(s string) string { return html.EscapeString(Strip(s)) }

// Terminal is text for a terminal: stripped (no escape sequences, no
// carriage returns, no bidi tricks).
func Terminal(s string) string { return Strip(s) }

// massMention matches the mass pings; Markdown breaks them with a
// zero-width space (allowed_mentions already keeps them from pinging).
var massMention = regexp.MustCompile(`(?i)@(everyone|here)`)

// Markdown is text for a Discord message, shown literally: stripped, then
// markdown (bold, italics, strike-through, spoilers, code, quotes,
// headings, lists, masked links) and mention syntax (<@id>, <#id>, <t:…>)
// escaped with backslashes, except inside http(s) URLs so links still
// work, and @everyone/@here broken up. Messages must still set
// allowed_mentions to ping nobody: escaping is the second fence.
func Markdown(s string) string {
	s = Strip(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		markdownLine(&b, line)
	}
	return massMention.ReplaceAllString(b.String(), "@\u200b$1")
}

func markdownLine(b *strings.Builder, line string) {
	rest := strings.TrimLeft(line, " \t")
	b.WriteString(line[:len(line)-len(rest)])
	// Block syntax at the start of a line: headings, quotes, lists,
	// sub-text ("-# ").
	if rest != "" && strings.ContainsRune("#>-+*", rune(rest[0])) {
		b.WriteByte('\\')
		b.WriteByte(rest[0])
		rest = rest[1:]
	} else if n := leadingDigits(rest); n > 0 && n < len(rest) && (rest[n] == '.' || rest[n] == ')') {
		b.WriteString(rest[:n])
		b.WriteByte('\\')
		b.WriteByte(rest[n])
		rest = rest[n+1:]
	}
	for rest != "" {
		if isURL(rest) {
			// A URL runs to white space or to a character URLs can't hold
			// unencoded (so "<@id>" after a URL is still escaped).
			end := strings.IndexAny(rest, " \t<>\"`")
			if end < 0 {
				end = len(rest)
			}
			b.WriteString(rest[:end])
			rest = rest[end:]
			continue
		}
		c := rest[0]
		if strings.IndexByte(`\*_~|`+"`"+`[]<>`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
		rest = rest[1:]
	}
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// isURL reports whether s starts with an http(s) URL.
func isURL(s string) bool {
	return len(s) >= 8 && (strings.EqualFold(s[:7], "http://") || strings.EqualFold(s[:8], "https://"))
}
