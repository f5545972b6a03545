package loadtest

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/kb"
)

// Button IDs and prefixes the script recognises in replies. They mirror
// the flows' and the engine's IDs; a press on anything else is an answer
// to the open question.
const (
	btnHuman   = "human"
	ratePrefix = "rate."
	rateSkip   = "rate.skip"
)

// Script decides what simulated users say. Its texts are data, not Go
// literals: the knowledge base's evaluation examples (its training
// examples when it has none), so users write the way the real ones in
// the data set do. A Script is read-only and safe for concurrent use;
// each user brings its own random source.
type Script struct {
	texts    []string // free text: complaints, answers, greetings… never a request for a person
	humans   []string // requests for a person
	thanks   []string // comments after a rating
	greets   []string // "anyone there?" while waiting for a moderator
	modTexts []string // what moderators write to users
}

// NewScript builds a Script from a knowledge base.
func NewScript(k *kb.KB) (*Script, error) {
	exs := k.Eval
	if len(exs) == 0 {
		exs = k.Training
	}
	s := &Script{}
	for _, e := range exs {
		t := strings.TrimSpace(e.Text)
		if t == "" {
			continue
		}
		switch e.Intent {
		case kb.Human:
			s.humans = append(s.humans, t)
			continue
		case kb.Thanks:
			s.thanks = append(s.thanks, t)
		case kb.Greet:
			s.greets = append(s.greets, t)
		}
		s.texts = append(s.texts, t)
	}
	// Moderators answer with the assistant's own fix-step texts: long,
	// plain sentences like a person's.
	for _, c := range k.Causes {
		for _, st := range c.Steps {
			s.modTexts = append(s.modTexts, strings.TrimSpace(st))
		}
	}
	switch {
	case len(s.texts) == 0:
		return nil, errors.New("loadtest: the knowledge base has no example texts")
	case len(s.humans) == 0:
		return nil, errors.New("loadtest: the knowledge base has no examples of asking for a person")
	}
	if len(s.thanks) == 0 {
		s.thanks = s.texts
	}
	if len(s.greets) == 0 {
		s.greets = s.texts
	}
	if len(s.modTexts) == 0 {
		s.modTexts = s.texts
	}
	return s, nil
}

// Move is one thing a user does; it becomes a bot.Message.
type Move struct {
	Text    string
	Button  string
	Command string
	NonText bool
}

// Next returns a user's next move given the replies of their last turn.
// With human set the user asks for a person (by the button when there is
// one, the command, or in words); otherwise they never press the person
// button, but free text may still end with one (a "yes" to "would you
// like a person?").
func (s *Script) Next(rng *rand.Rand, last []flows.Reply, human bool) Move {
	buttons := lastButtons(last)
	if human {
		switch r := rng.IntN(4); {
		case r == 0 && hasButton(buttons, btnHuman):
			return Move{Button: btnHuman}
		case r == 1:
			return Move{Command: flows.CmdHuman}
		}
		return Move{Text: pick(rng, s.humans)}
	}
	if isRating(buttons) {
		if buttons[0].ID == rateSkip || rng.IntN(3) == 0 {
			if hasButton(buttons, rateSkip) && rng.IntN(2) == 0 {
				return Move{Button: rateSkip}
			}
			return Move{Text: pick(rng, s.thanks)}
		}
		return Move{Button: ratePrefix + strconv.Itoa(3+rng.IntN(3))}
	}
	r := rng.IntN(100)
	if len(buttons) > 0 {
		switch {
		case r < 55:
			if b, ok := pickButton(rng, buttons); ok {
				return Move{Button: b.ID}
			}
		case r < 70:
			// A typed option number ("2"), as users do when buttons
			// don't show; never the person button's.
			if i := rng.IntN(len(buttons)); buttons[i].ID != btnHuman {
				return Move{Text: strconv.Itoa(i + 1)}
			}
		case r < 72:
			return Move{NonText: true}
		case r < 74:
			return Move{Command: flows.CmdHelp}
		}
		return Move{Text: pick(rng, s.texts)}
	}
	if r < 2 {
		return Move{NonText: true}
	}
	return Move{Text: pick(rng, s.texts)}
}

// Waiting returns what a user writes while waiting for a moderator.
func (s *Script) Waiting(rng *rand.Rand) Move { return Move{Text: pick(rng, s.greets)} }

// ModText returns what a moderator writes to a user.
func (s *Script) ModText(rng *rand.Rand) string { return pick(rng, s.modTexts) }

func pick(rng *rand.Rand, texts []string) string { return texts[rng.IntN(len(texts))] }

// lastButtons returns the buttons of the last reply that has any.
func lastButtons(rs []flows.Reply) []flows.Button {
	for i := len(rs) - 1; i >= 0; i-- {
		if len(rs[i].Buttons) > 0 {
			return rs[i].Buttons
		}
	}
	return nil
}

func hasButton(bs []flows.Button, id string) bool {
	for _, b := range bs {
		if b.ID == id {
			return true
		}
	}
	return false
}

// isRating reports whether the buttons ask for a rating (or a comment on
// one).
func isRating(bs []flows.Button) bool {
	return len(bs) > 0 && strings.HasPrefix(bs[0].ID, ratePrefix)
}

// pickButton picks a button other than the person one.
func pickButton(rng *rand.Rand, bs []flows.Button) (flows.Button, bool) {
	n := 0
	var chosen flows.Button
	for _, b := range bs {
		if b.ID == btnHuman {
			continue
		}
		n++
		if rng.IntN(n) == 0 {
			chosen = b
		}
	}
	return chosen, n > 0
}
