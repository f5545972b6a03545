// Package kbtest provides a small, complete knowledge base for tests, so
// tests of the flows and the engine don't depend on the wording of the
// shipped one. Messages render as "<name>", causes as "Title of <id>";
// every cause has a confirming question (yes → fix, no → rule out, a third
// answer → another cause) and two steps; the triage asks about the error
// message and the network. Intent examples are "<intent> example N".
package kbtest

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmdoctor/dmdoctor/kb"
)

// FS returns the fixture's files; tests may change them before kb.Load.
func FS() fstest.MapFS {
	fsys := fstest.MapFS{}
	for i, id := range kb.CauseIDs {
		other := kb.AppGlitch
		if id == kb.AppGlitch {
			other = kb.Network
		}
		prior := 1.0
		if id == kb.Network {
			prior = 2
		}
		fsys["causes/"+id+".yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`id: %s
title: Title of %s
summary: Summary of %s.
explanation: Explanation of %s.
prior: %v
questions:
  - id: check
    text: Is it %s?
    options:
      - {id: "yes", label: "Yes", then: fix}
      - {id: "no", label: "No", then: rule_out}
      - {id: other, label: "Maybe the app", then: %s, match: ["crash"]}
steps:
  - Step one for %s (%d).
  - Step two for %s.
`, id, id, id, id, prior, id, other, id, i, id))}
	}
	fsys["triage.yaml"] = &fstest.MapFile{Data: []byte(`confident: 0.6
max_questions: 3
max_causes: 2
questions:
  - id: error
    text: What does the error say?
    options:
      - {id: banned, label: "Banned", then: temporary_ban, weights: {temporary_ban: 8, guidelines_violation: 4}, match: ["says banned"]}
      - {id: too_fast, label: "Too fast", weights: {spam_filter: 8, account_restriction: 3}}
      - {id: failed, label: "Failed to send", weights: {network: 4, app_glitch: 3}}
      - {id: none, label: "No error", weights: {privacy_settings: 4, outdated_app: 3}}
  - id: other_network
    text: Does it work on another network?
    options:
      - {id: "yes", label: "Yes", weights: {network: 6}}
      - {id: "no", label: "No", weights: {network: 0.2}}
      - {id: not_sure, label: "Not sure"}
`)}
	fsys["faq.yaml"] = &fstest.MapFile{Data: []byte("faq:\n  - {id: main_reasons, question: \"What are the main reasons?\", answer: \"Eight of them.\"}\n")}
	fsys["checklist.yaml"] = &fstest.MapFile{Data: []byte("title: Checklist\nitems:\n  - {id: network, text: Check the network.}\n  - {id: update, text: Update the app.}\n")}
	var msgs strings.Builder
	for _, name := range kb.RequiredMessages {
		// "<name>", followed by the message's placeholders, if any.
		text := "<" + name
		if name == "cause_intro" {
			text += " {title}"
		} else {
			for _, p := range kb.Placeholders[name] {
				text += " {" + p + "}"
			}
		}
		fmt.Fprintf(&msgs, "%s: %q\n", name, text+">")
	}
	fsys["messages.yaml"] = &fstest.MapFile{Data: []byte(msgs.String())}
	var train strings.Builder
	for _, id := range append(append([]string{}, kb.BaseIntents...), kb.CauseIDs...) {
		for i := 0; i < kb.MinExamples; i++ {
			fmt.Fprintf(&train, "{\"text\": \"%s example %d\", \"intent\": %q}\n", id, i, id)
		}
	}
	fsys["training.jsonl"] = &fstest.MapFile{Data: []byte(train.String())}
	return fsys
}

// Load loads the fixture, failing the test if it doesn't load.
func Load(t testing.TB) *kb.KB {
	t.Helper()
	k, err := kb.Load(FS())
	if err != nil {
		t.Fatalf("fixture KB: %v", err)
	}
	return k
}
