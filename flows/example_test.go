package flows_test

import (
	"fmt"

	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/kb/kbtest"
)

// A conversation is a sequence of Steps: the state goes in, the new state
// and the replies come out. Here the classifier read "my dms wont send" as
// the complaint with no cause named, so triage starts; the answer to its
// first question names the ban, so the fix steps follow.
func ExampleFlow_Step() {
	k, err := kb.Load(kbtest.FS())
	if err != nil {
		panic(err)
	}
	f := flows.New(k, flows.Config{})

	out := f.Step(flows.State{}, flows.Input{Text: "my dms wont send",
		NLU: flows.NLU{Intent: kb.CantSend, Confidence: 0.97}})
	for _, r := range out.Replies {
		fmt.Println(r.Text, len(r.Buttons))
	}
	fmt.Println(out.State.Phase)

	banned := out.Replies[len(out.Replies)-1].Buttons[0]
	out = f.Step(out.State, flows.Input{Button: banned.ID})
	fmt.Println(banned.Label, "→", out.State.Phase, out.State.Cause)
	// Output:
	// <triage_intro> 0
	// What does the error say? 4
	// triage
	// Banned → feedback temporary_ban
}
