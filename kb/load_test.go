package kb_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/kb/kbtest"
)

func TestFixtureLoads(t *testing.T) {
	k := kbtest.Load(t)
	if len(k.Causes) != 8 || k.Triage.MaxCauses != 2 || k.Cause(kb.Network).Prior != 2 {
		t.Fatalf("fixture loaded wrong: %d causes, max_causes %d", len(k.Causes), k.Triage.MaxCauses)
	}
}

// TestValidationErrors breaks the fixture one way at a time and checks that
// the error names the file, the line and the field.
func TestValidationErrors(t *testing.T) {
	replace := func(file, old, new string) func(fstest.MapFS) {
		return func(fs fstest.MapFS) {
			s := string(fs[file].Data)
			if !strings.Contains(s, old) {
				panic("fixture lacks " + old)
			}
			fs[file] = &fstest.MapFile{Data: []byte(strings.Replace(s, old, new, 1))}
		}
	}
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		want   string // substring of the error
	}{
		{"unknown cause in triage weights", replace("triage.yaml", "{spam_filter: 8,", "{spam_filtr: 8,"),
			`triage.yaml:9: questions[0].options[1].weights.spam_filtr: unknown cause ID "spam_filtr"`},
		{"unknown cause in then", replace("triage.yaml", "then: temporary_ban", "then: temp_ban"),
			`triage.yaml:8: questions[0].options[0].then: unknown cause ID "temp_ban"`},
		{"duplicate cause ID", replace("causes/network.yaml", "id: network", "id: app_glitch"),
			`duplicate cause ID "app_glitch"`},
		{"required cause missing", func(fs fstest.MapFS) { delete(fs, "causes/outdated_app.yaml") },
			`causes: required cause "outdated_app" is missing`},
		{"cause without fix steps", replace("causes/network.yaml", "steps:\n  - Step one for network (1).\n  - Step two for network.\n", "steps: []\n"),
			`causes/network.yaml:13: steps: cause "network" has no fix steps`},
		{"answer leading nowhere", replace("causes/spam_filter.yaml", `then: rule_out}`, `then: nowhere}`),
			`causes/spam_filter.yaml:11: questions[0].options[1].then: unknown target "nowhere"`},
		{"answer without then", replace("causes/spam_filter.yaml", `, then: rule_out}`, `}`),
			`questions[0].options[1].then: answer "no" leads nowhere`},
		{"triage question that changes nothing", replace("triage.yaml", `      - {id: "yes", label: "Yes", weights: {network: 6}}
      - {id: "no", label: "No", weights: {network: 0.2}}`, `      - {id: "yes", label: "Yes"}
      - {id: "no", label: "No"}`),
			`triage.yaml:12: questions[1]: question "other_network": no answer changes anything`},
		{"from_triage: unknown triage question", replace("causes/network.yaml", "    text: Is it network?\n", "    text: Is it network?\n    from_triage: {question: other_netwrk, options: {\"yes\": \"yes\"}}\n"),
			`causes/network.yaml:9: questions[0].from_triage.question: unknown triage question "other_netwrk"`},
		{"from_triage: unknown answers", replace("causes/network.yaml", "    text: Is it network?\n", "    text: Is it network?\n    from_triage: {question: other_network, options: {\"yes\": \"yes\", maybe: \"no\", \"no\": nope}}\n"),
			`questions[0].from_triage.options.maybe: triage question "other_network" has no answer "maybe"`},
		{"from_triage: unknown answer here", replace("causes/network.yaml", "    text: Is it network?\n", "    text: Is it network?\n    from_triage: {question: other_network, options: {\"no\": nope}}\n"),
			`questions[0].from_triage.options.no: question "check" has no answer "nope"`},
		{"from_triage: nothing mapped", replace("causes/network.yaml", "    text: Is it network?\n", "    text: Is it network?\n    from_triage: {question: other_network}\n"),
			`questions[0].from_triage.options: map at least one answer of triage question "other_network"`},
		{"duplicate question ID", replace("triage.yaml", "id: other_network", "id: error"),
			`questions[1].id: duplicate question ID "error"`},
		{"duplicate option ID", replace("triage.yaml", `{id: too_fast,`, `{id: banned,`),
			`questions[0].options[1].id: duplicate answer ID "banned"`},
		{"unknown field", replace("causes/network.yaml", "prior:", "priority:"),
			`causes/network.yaml:5: field priority not found`},
		{"bad YAML", replace("faq.yaml", "faq:", "faq: [\n"), `faq.yaml:`},
		{"missing message", replace("messages.yaml", "welcome: \"<welcome>\"\n", ""),
			`messages.yaml: welcome: required message "welcome" is missing or empty`},
		{"unknown message", replace("messages.yaml", "welcome:", "welcom:"),
			`unknown message "welcom"`},
		{"unknown intent in training", replace("training.jsonl", `"intent": "greet"}`, `"intent": "greeting"}`),
			`training.jsonl:9: intent: unknown intent or cause ID "greeting"`},
		{"broken training line", replace("training.jsonl", `{"text": "greet example 0"`, `{"txt": "greet example 0"`),
			`training.jsonl:9: not a JSON object`},
		{"too few examples", replace("training.jsonl", "{\"text\": \"greet example 7\", \"intent\": \"greet\"}\n", ""),
			`intent "greet" has 7 examples`},
		{"label too long", replace("triage.yaml", `label: "Too fast"`, `label: "`+strings.Repeat("x", 41)+`"`),
			`questions[0].options[1].label: longer than 40 characters`},
		{"bad option ID", replace("triage.yaml", `{id: too_fast,`, `{id: "Too Fast!",`),
			`must be lower-case letters`},
		{"confident out of range", replace("triage.yaml", "confident: 0.6", "confident: 1.5"),
			`triage.yaml:1: confident: must be between 0 and 1`},
		{"invalid UTF-8", func(fs fstest.MapFS) { fs["faq.yaml"] = &fstest.MapFile{Data: []byte("faq: \xff\xfe")} },
			`faq.yaml: file is not valid UTF-8`},
		{"empty file", func(fs fstest.MapFS) { fs["checklist.yaml"] = &fstest.MapFile{Data: nil} },
			`checklist.yaml: file is empty`},
		{"missing file", func(fs fstest.MapFS) { delete(fs, "triage.yaml") }, `triage.yaml: file is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := kbtest.FS()
			tt.change(fs)
			_, err := kb.Load(fs)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n%v\ndoes not contain\n%s", err, tt.want)
			}
			var es kb.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not kb.Errors: %T", err)
			}
		})
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	fs := kbtest.FS()
	delete(fs, "causes/network.yaml")
	fs["messages.yaml"] = &fstest.MapFile{Data: []byte("welcome: hi\n")}
	_, err := kb.Load(fs)
	var es kb.Errors
	if !errors.As(err, &es) || len(es) < 10 {
		t.Fatalf("want many errors in one report, got %v", err)
	}
}
