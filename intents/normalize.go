package intents

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize returns the text as the classifier reads it: lower-cased word
// tokens joined by single spaces. It is a pure function of its input, and what
// it does is plain English text normalisation, not tuning to any domain:
//
//   - Invalid UTF-8 bytes, punctuation and symbols separate words; text in
//     scripts without spaces (Han, Hiragana, Katakana) becomes one token per
//     character.
//   - Letters are lower-cased (Unicode); any digit becomes '0', and a run of
//     digits is a token of its own ("3pm" → "0 pm", "2019" → "0000").
//   - Contractions are expanded, with or without the apostrophe ("can't" and
//     "cant" → "can not", "i'm" and "im" → "i am", "what's" → "what is");
//     any other "'s" is taken as a possessive and dropped ("card's" → "card").
//   - Elongated words are squeezed: a run of three or more of the same letter
//     becomes two inside a word and one at its end ("goooood" → "good",
//     "sooooo" → "so", "plsss" → "pls" → "please"). A trained model also tries
//     the other squeezes and keeps the first that it saw in training
//     ("loooove" → "love", "seeee" → "see"): see [Model.Classify].
//   - Common chat spellings become words ("u" → "you", "ur" → "your",
//     "msgs" → "messages", "pls" → "please", "thx" → "thanks", "idk" → "i do not
//     know", "dms" → "dm"): a small table of general English chat lingo.
//   - Letters separated by dots are joined ("u.s.a." → "usa", "p.m." → "pm").
//   - Emoji and emoticons become a sentiment token: "emojineg" for sad or angry
//     ones (😭 😡 💔 ":("), "emojipos" for happy or approving ones (😂 🙏 👍
//     ":)"), "emoji" for the rest. Repeats of the same token collapse to one.
//
// Stop-words are kept. Stemming is not part of Normalize: the model stems the
// tokens that Normalize returns.
func Normalize(text string) string {
	var tz tokenizer
	tz.run(text, nil, 0)
	var b strings.Builder
	for i, t := range tz.toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(tz.out[t.start:t.end])
	}
	return b.String()
}

// span is one token: tz.out[start:end].
type span struct{ start, end int32 }

// tokenizer turns text into normalised tokens. Its buffers are reused from one
// call to the next, so a pooled tokenizer allocates nothing in steady state.
type tokenizer struct {
	out  []byte // the bytes of all tokens, back to back
	toks []span
	word []byte // the raw word being collected
	alt  []byte // scratch for squeezed variants
	last int8   // kind of the last emitted token, to collapse repeated emoji
	// dotted is set while the word is single letters joined by dropped dots.
	dotted bool
}

const (
	lastWord int8 = iota
	lastEmojiNeg
	lastEmojiPos
	lastEmoji
)

// run tokenises text into tz.out and tz.toks. vocab, when not nil, holds the
// words the model saw in training; it decides among squeezes of an elongated
// word. At most maxTokens tokens are kept when maxTokens > 0.
func (tz *tokenizer) run(text string, vocab map[string]int32, maxTokens int) {
	tz.out = tz.out[:0]
	tz.toks = tz.toks[:0]
	tz.word = tz.word[:0]
	tz.last = lastWord
	for i := 0; i < len(text); {
		if maxTokens > 0 && len(tz.toks) >= maxTokens {
			break
		}
		if c := text[i]; c < utf8.RuneSelf { // ASCII fast path
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				tz.word = append(tz.word, c)
			case 'A' <= c && c <= 'Z':
				tz.word = append(tz.word, c+'a'-'A')
			case c == '\'' || c == '`':
				if len(tz.word) > 0 {
					tz.word = append(tz.word, '\'')
				}
			case c == '.' && tz.dottedLetter(text[i+1:]):
			default:
				tz.flush(vocab)
				if c == ':' || c == ';' || c == '=' || c == '<' || c == '>' {
					if n, kind := emoticon(text[i:]); n > 0 {
						tz.emitEmoji(kind)
						i += n
						continue
					}
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size <= 1 {
			tz.flush(vocab)
			i++
			continue
		}
		switch {
		case isIgnorable(r):
			// Joiners, variation selectors, soft hyphens: dropped.
		case isApostrophe(r):
			// Kept only inside a word; trimmed at its ends by flush.
			if len(tz.word) > 0 {
				tz.word = append(tz.word, '\'')
			}
		case r == '.' && tz.dottedLetter(text[i+size:]):
			// "u.s.a." → "usa": the dot between single letters is dropped.
		case isSplitScript(r):
			tz.flush(vocab)
			tz.word = utf8.AppendRune(tz.word, unicode.ToLower(r))
			tz.flush(vocab)
		case unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r):
			if unicode.IsDigit(r) && r > utf8.RuneSelf {
				r = '0' // other scripts' digits; ASCII ones are mapped later
			}
			tz.word = utf8.AppendRune(tz.word, unicode.ToLower(r))
		default:
			tz.flush(vocab)
			if kind, ok := emojiKind(r); ok {
				tz.emitEmoji(kind)
			}
		}
		i += size
	}
	tz.flush(vocab)
	if maxTokens > 0 && len(tz.toks) > maxTokens {
		tz.toks = tz.toks[:maxTokens]
	}
}

// dottedLetter reports whether a dot, followed by rest, joins single letters
// as in "u.s." or "p.m": the word so far is one letter (or letters already
// joined this way) and rest starts with one letter not followed by another.
func (tz *tokenizer) dottedLetter(rest string) bool {
	n := utf8.RuneCount(tz.word)
	if n == 0 || n > 8 || (n > 1 && !tz.dotted) {
		return false
	}
	if n == 1 {
		r, _ := utf8.DecodeRune(tz.word)
		if !unicode.IsLetter(r) {
			return false
		}
	}
	r, size := utf8.DecodeRuneInString(rest)
	if !unicode.IsLetter(r) || isSplitScript(r) {
		return false
	}
	r2, _ := utf8.DecodeRuneInString(rest[size:])
	if isWordRune(r2) || isApostrophe(r2) {
		return false
	}
	tz.dotted = true
	return true
}

// isIgnorable reports whether r is a format character that is dropped
// without separating words: zero-width joiners, variation selectors (as
// after "❤"), the combining keycap, soft hyphens.
func isIgnorable(r rune) bool {
	switch {
	case r == 0x00ad, r == 0x200c, r == 0x200d, r == 0x20e3, r == 0x2060:
		return true
	case r >= 0xfe00 && r <= 0xfe0f:
		return true
	}
	return false
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '\u2019', '\u2018', '\u02bc', '`', '\u00b4', '\u2032':
		return true
	}
	return false
}

// isSplitScript reports whether r belongs to a script written without spaces,
// whose characters are taken one by one.
func isSplitScript(r rune) bool {
	return r >= 0x2e80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r))
}

// flush turns the collected raw word into tokens.
func (tz *tokenizer) flush(vocab map[string]int32) {
	w := tz.word
	tz.word = tz.word[:0]
	tz.dotted = false
	for len(w) > 0 && w[0] == '\'' {
		w = w[1:]
	}
	for len(w) > 0 && w[len(w)-1] == '\'' {
		w = w[:len(w)-1]
	}
	if len(w) == 0 {
		return
	}
	a := lastIndexByte(w, '\'')
	if a < 0 {
		tz.processWord(w, vocab)
		return
	}
	if exp, ok := contractions[string(w)]; ok {
		tz.emitWords(exp)
		return
	}
	base, suffix := w[:a], string(w[a+1:])
	var exp string
	switch suffix {
	case "t":
		if len(base) > 1 && base[len(base)-1] == 'n' {
			base, exp = base[:len(base)-1], "not"
		}
	case "m":
		exp = "am"
	case "re":
		exp = "are"
	case "ve":
		exp = "have"
	case "ll":
		exp = "will"
	case "d":
		exp = "would"
	case "s":
		if isBases[string(base)] {
			exp = "is"
		} else {
			exp = "-" // possessive: dropped
		}
	}
	if exp == "" {
		// Not a contraction ("o'hare"): the apostrophes go.
		tz.processWord(dropApostrophes(w), vocab)
		return
	}
	// base may hold another apostrophe ("y'all'd"): drop those.
	tz.processWord(dropApostrophes(base), vocab)
	if exp != "-" {
		tz.emitWords(exp)
	}
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// Squeeze modes for elongated words.
const (
	squeezeDefault = iota // two inside the word, one at its end
	squeezeTwo
	squeezeOne
)

// squeeze appends w to dst with each run of three or more of the same letter
// shortened according to mode. It reports whether any run was shortened.
func squeeze(dst, w []byte, mode int) ([]byte, bool) {
	changed := false
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRune(w[i:])
		j, n := i+size, 1
		for j < len(w) {
			r2, s2 := utf8.DecodeRune(w[j:])
			if r2 != r {
				break
			}
			j += s2
			n++
		}
		keep := n
		if n >= 3 && unicode.IsLetter(r) {
			changed = true
			switch {
			case mode == squeezeOne || (mode == squeezeDefault && j == len(w)):
				keep = 1
			default:
				keep = 2
			}
		}
		for k := 0; k < keep; k++ {
			dst = append(dst, w[i:i+size]...)
		}
		i = j
	}
	return dst, changed
}

// hasRun3 reports whether w has three equal bytes in a row: a quick test
// before squeeze.
func hasRun3(w []byte) bool {
	for i := 2; i < len(w); i++ {
		if w[i] == w[i-1] && w[i] == w[i-2] {
			return true
		}
	}
	return false
}

// processWord emits the tokens of one apostrophe-free word. A word of
// letters and digits is looked up whole in the chat-lingo table ("b4",
// "gr8"), then split into runs of letters and of digits.
func (tz *tokenizer) processWord(w []byte, vocab map[string]int32) {
	d := 0
	for d < len(w) && (w[d] < '0' || w[d] > '9') {
		d++
	}
	if d == len(w) {
		tz.processLetters(w, vocab)
		return
	}
	if exp, ok := lingo[string(w)]; ok {
		tz.emitWords(exp)
		return
	}
	for len(w) > 0 {
		digits := w[0] >= '0' && w[0] <= '9'
		n := 0
		for n < len(w) && (w[n] >= '0' && w[n] <= '9') == digits {
			n++
		}
		if digits {
			start := len(tz.out)
			for range n {
				tz.out = append(tz.out, '0')
			}
			tz.push(start)
		} else {
			tz.processLetters(w[:n], vocab)
		}
		w = w[n:]
	}
}

// processLetters emits the tokens of a word without digits: squeezed,
// looked up in the chat-lingo table, or as it is.
func (tz *tokenizer) processLetters(w []byte, vocab map[string]int32) {
	var cands [3][]byte
	nc := 1
	cands[0] = w
	tz.alt = tz.alt[:0]
	changed := false
	if hasRun3(w) {
		tz.alt, changed = squeeze(tz.alt, w, squeezeDefault)
	}
	if changed {
		e0 := len(tz.alt)
		tz.alt, _ = squeeze(tz.alt, w, squeezeTwo)
		e1 := len(tz.alt)
		tz.alt, _ = squeeze(tz.alt, w, squeezeOne)
		cands[0], cands[1], cands[2] = tz.alt[:e0], tz.alt[e0:e1], tz.alt[e1:]
		nc = 3
	}
	for _, c := range cands[:nc] {
		if exp, ok := lingo[string(c)]; ok {
			tz.emitWords(exp)
			return
		}
	}
	chosen := cands[0]
	if vocab != nil && nc > 1 {
		for _, c := range cands[:nc] {
			if _, ok := vocab[string(c)]; ok {
				chosen = c
				break
			}
		}
	}
	start := len(tz.out)
	tz.out = append(tz.out, chosen...)
	tz.push(start)
}

// push records tz.out[start:] as a token.
func (tz *tokenizer) push(start int) {
	tz.toks = append(tz.toks, span{int32(start), int32(len(tz.out))})
	tz.last = lastWord
}

// emitWords emits the space-separated words of s as they are.
func (tz *tokenizer) emitWords(s string) {
	for s != "" {
		w := s
		if i := strings.IndexByte(s, ' '); i >= 0 {
			w, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		start := len(tz.out)
		tz.out = append(tz.out, w...)
		tz.push(start)
	}
}

// emitEmoji emits the token of an emoji kind, unless the previous token is
// the same emoji token.
func (tz *tokenizer) emitEmoji(kind int8) {
	if tz.last == kind && len(tz.toks) > 0 {
		return
	}
	start := len(tz.out)
	switch kind {
	case lastEmojiNeg:
		tz.out = append(tz.out, "emojineg"...)
	case lastEmojiPos:
		tz.out = append(tz.out, "emojipos"...)
	default:
		tz.out = append(tz.out, "emoji"...)
	}
	tz.push(start)
	tz.last = kind
}

// emoticon reports the length and kind of an ASCII emoticon at the start of s,
// or 0 when there is none. An emoticon must not run into a letter or digit.
func emoticon(s string) (int, int8) {
	if len(s) < 2 {
		return 0, 0
	}
	for _, e := range emoticons {
		if strings.HasPrefix(s, e.text) {
			n := len(e.text)
			if n < len(s) {
				r, _ := utf8.DecodeRuneInString(s[n:])
				if isWordRune(r) {
					continue
				}
			}
			return n, e.kind
		}
	}
	return 0, 0
}

// emojiKind reports whether r is an emoji and which sentiment token it maps to.
// Joiners, variation selectors and skin-tone modifiers are not emoji.
func emojiKind(r rune) (int8, bool) {
	switch {
	case r >= 0x1f3fb && r <= 0x1f3ff:
		return 0, false
	case r >= 0x1f000 && r <= 0x1faff,
		r >= 0x2600 && r <= 0x27bf,
		r >= 0x2b00 && r <= 0x2bff,
		r >= 0x2300 && r <= 0x23ff:
	default:
		return 0, false
	}
	if k, ok := emojiSentiment[r]; ok {
		return k, true
	}
	return lastEmoji, true
}

// dropApostrophes removes the apostrophes of w in place.
func dropApostrophes(w []byte) []byte {
	j := 0
	for _, c := range w {
		if c != '\'' {
			w[j] = c
			j++
		}
	}
	return w[:j]
}
