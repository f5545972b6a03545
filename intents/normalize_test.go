package intents

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// case and punctuation
		{"case", "HELLO World", "hello world"},
		{"unicode case", "ÀÉÎ STRAßE Привет", "àéî straße привет"},
		{"ascii punctuation", "hi!!! how are you??? (fine), ok.", "hi how are you fine ok"},
		{"unicode punctuation", "«quoted» — dash… ok¿", "quoted dash ok"},
		{"url", "http://x.com/a", "http x com a"},
		{"empty", "", ""},
		{"whitespace", " \t\n ", ""},
		{"only punctuation", "?!... ---", ""},
		{"invalid utf-8", "hello\xffworld\xc3", "hello world"},
		{"zero-width space separates", "hello\u200bworld", "hello world"},
		{"soft hyphen dropped", "hel\u00adlo", "hello"},

		// contractions
		{"n't", "I don't know, it isn't", "i do not know it is not"},
		{"can't won't", "can't won't shan't", "can not will not shall not"},
		{"am are have will would", "I'm sure you're right, we've seen they'll say I'd go", "i am sure you are right we have seen they will say i would go"},
		{"'s is", "it's what's that's", "it is what is that is"},
		{"'s possessive", "my card's number", "my card number"},
		{"curly apostrophe", "I can’t, what’s up", "i can not what is up"},
		{"without apostrophe", "cant dont doesnt wont im", "can not do not does not will not i am"},
		{"its kept", "its color", "its color"},
		{"apostrophe in a name", "o'hare", "ohare"},
		{"quotes trimmed", "'quoted' `word`", "quoted word"},

		// elongation
		{"elongated end", "sooooo", "so"},
		{"elongated lingo", "plsss", "please"},
		{"elongated middle", "goooood", "good"},
		{"elongated both", "heeeyyyy", "heey"},
		{"double letters kept", "good bookkeeper", "good bookkeeper"},
		{"digits not squeezed", "1000", "0000"},

		// chat spellings
		{"u ur", "u r the best, ur msg", "you are the best your message"},
		{"msgs dms", "msgs DMs dm", "messages dm dm"},
		{"thanks", "thx ty", "thanks thanks"},
		{"idk rn", "idk rn", "i do not know right now"},
		{"yes and no", "yeh nah aight deffo", "yes no alright definitely"},
		{"greetings", "sup hru gm", "what is up how are you good morning"},
		{"abbreviations", "ngl tbh fr wdym", "not going to lie to be honest for real what do you mean"},
		{"thanks spellings", "tyvm thankies", "thank you very much thanks"},
		{"because", "bc cuz", "because because"},
		{"digit spellings", "b4 2day gr8", "before today great"},

		// emoji and emoticons
		{"negative emoji collapse", "😭😭😭 why", "emojineg why"},
		{"positive emoji", "thanks 🙏", "thanks emojipos"},
		{"neutral emoji", "🚀", "emoji"},
		{"variation selector", "❤️", "emojipos"},
		{"skin tone", "👍🏽", "emojipos"},
		{"zwj sequence", "👨\u200d👩\u200d👧", "emoji"},
		{"flag", "🇺🇸", "emoji"},
		{"only emoji", "😡🤬", "emojineg"},
		{"emoticons", "hi :) bye :( ok :-D", "hi emojipos bye emojineg ok emojipos"},
		{"colon is not an emoticon", "time: 10", "time 00"},

		// digits, abbreviations, scripts
		{"digits", "3pm 2019 $20 1st", "0 pm 0000 00 0 st"},
		{"other digits", "١٢٣", "000"},
		{"dotted letters", "u.s.a. and the U.S.", "usa and the us"},
		{"am pm", "at 5 p.m.", "at 0 pm"},
		{"sentence end", "plan B. Then", "plan b then"},
		{"han one per character", "你好世界", "你 好 世 界"},
		{"mixed scripts", "hi你好", "hi 你 好"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestTokenizerSqueezesToKnownWords checks that a model picks, among the
// squeezes of an elongated word, one it saw in training.
func TestTokenizerSqueezesToKnownWords(t *testing.T) {
	vocab := map[string]int32{"love": 0, "see": 1, "free": 2}
	tests := []struct{ in, want string }{
		{"loooove", "love"},  // default squeeze "loove" unknown
		{"seeee", "see"},     // default "se" unknown, two-letter "see" known
		{"freeeee", "free"},  // same
		{"sooooo", "so"},     // none known: the default
		{"plzzzz", "please"}, // chat spellings first
		{"hellllo", "hello"}, // no squeeze known: the default
	}
	var tz tokenizer
	for _, tt := range tests {
		tz.run(tt.in, vocab, 0)
		var words []string
		for _, s := range tz.toks {
			words = append(words, string(tz.out[s.start:s.end]))
		}
		if got := strings.Join(words, " "); got != tt.want {
			t.Errorf("tokens of %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeLongText(t *testing.T) {
	long := strings.Repeat("word ", 20_000) + strings.Repeat("a", 100_000)
	got := Normalize(long)
	if n := len(strings.Fields(got)); n != 20_001 {
		t.Errorf("Normalize of a long text gave %d tokens, want 20001", n)
	}
	if !utf8.ValidString(got) {
		t.Error("Normalize of a long text is not valid UTF-8")
	}
}
