package loadtest_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/loadtest"
)

// TestScript checks what simulated users do with the buttons they see:
// never the person button unless they want a person, a star or a comment
// when asked for a rating, and mostly presses when there are buttons.
func TestScript(t *testing.T) {
	p := loadAssistant(t)
	s, err := loadtest.NewScript(p.kb)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	question := []flows.Reply{{Text: "Did that fix it?", Buttons: []flows.Button{
		{ID: "4.fixed", Label: "Yes"}, {ID: "4.notfixed", Label: "No"}, {ID: "human", Label: "A person"}}}}
	rating := []flows.Reply{{Text: "How did we do?", Buttons: []flows.Button{
		{ID: "rate.1", Label: "⭐"}, {ID: "rate.5", Label: "⭐⭐⭐⭐⭐"}}}}
	presses, human := 0, 0
	for range 1000 {
		mv := s.Next(rng, question, false)
		switch {
		case mv.Button == "human" || mv.Command == flows.CmdHuman || mv.Text == "3":
			t.Fatalf("asked for a person unbidden: %+v", mv)
		case mv.Button != "":
			presses++
		}
		if mv := s.Next(rng, rating, false); !strings.HasPrefix(mv.Button, "rate.") && mv.Text == "" {
			t.Fatalf("neither rated nor commented: %+v", mv)
		}
		if mv := s.Next(rng, question, true); mv.Button == "human" || mv.Command == flows.CmdHuman || mv.Text != "" {
			human++
		}
	}
	if presses < 400 || presses > 700 {
		t.Errorf("%d presses of 1000 moves with buttons shown", presses)
	}
	if human != 1000 {
		t.Errorf("%d of 1000 moves asked for a person when told to", human)
	}
}
