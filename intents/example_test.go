package intents_test

import (
	"fmt"
	"strings"

	"github.com/dmdoctor/dmdoctor/intents"
)

func Example() {
	// In real use the lines come from a JSONL file.
	const data = `{"text": "hi there", "intent": "greeting"}
{"text": "hello, good morning", "intent": "greeting"}
{"text": "hey, how are you", "intent": "greeting"}
{"text": "i forgot my password", "intent": "reset_password"}
{"text": "how do i reset my password", "intent": "reset_password"}
{"text": "my password does not work", "intent": "reset_password"}
{"text": "i want my money back", "intent": "refund"}
{"text": "please refund my order", "intent": "refund"}
{"text": "i was charged twice, refund me", "intent": "refund"}
`
	examples, err := intents.ReadJSONL(strings.NewReader(data))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := intents.Train(examples, intents.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, text := range []string{
		"HELLOOO 👋",
		"i cant remember my passwrd",
		"refund plsss, i was charged twice 😡",
		"Какая погода?",
	} {
		r := m.Classify(text)
		fmt.Printf("%s → %s\n", text, r.Intent)
	}
	// Output:
	// HELLOOO 👋 → greeting
	// i cant remember my passwrd → reset_password
	// refund plsss, i was charged twice 😡 → refund
	// Какая погода? → out_of_scope
}

func ExampleModel_Classify() {
	examples := []intents.Example{
		{Text: "what is my balance", Intent: "balance"},
		{Text: "how much money do i have", Intent: "balance"},
		{Text: "send money to my friend", Intent: "transfer"},
		{Text: "transfer 20 dollars to alex", Intent: "transfer"},
	}
	m, err := intents.Train(examples, intents.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := m.Classify("transfer money to sam")
	fmt.Println(r.Intent, r.OutOfScope)
	for _, s := range r.Ranked {
		fmt.Println(s.Intent, s.Confidence > 0.5)
	}
	// Output:
	// transfer false
	// transfer true
	// balance false
}
