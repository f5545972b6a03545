package kb_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dmdoctor/dmdoctor/kb"
)

func TestReadExamplesLines(t *testing.T) {
	exs, err := kb.ReadExamples(strings.NewReader("\n{\"text\": \"a\", \"intent\": \"x\"}\n\n  {\"text\": \"b\", \"intent\": \"y\"}\r\n{\"text\": \"c\", \"intent\": \"z\"}"))
	if err != nil || len(exs) != 3 || exs[0].Line != 2 || exs[1].Line != 4 || exs[2].Line != 5 {
		t.Fatalf("%+v %v", exs, err)
	}
	for in, want := range map[string]string{
		"{\"text\": \"a\", \"intent\": \"x\"}\n{\"text\": \"a\"":                    "2: not a JSON object",
		"{\"text\": \"a\", \"intent\": \"x\"} {\"text\": \"b\", \"intent\": \"y\"}": "1: more than one JSON value",
		"\n\n{\"text\": \"a\", \"intent\": \"x\", \"extra\": 1}":                    "3: not a JSON object",
		"{\"text\": \" \", \"intent\": \"x\"}":                                      "1: text: is empty",
		"[1]":                                                                       "1: not a JSON object",
	} {
		_, err := kb.ReadExamples(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}

// TestReadExamplesMatchesEncodingJSON: the direct reader and encoding/json
// agree on every line either accepts.
func TestReadExamplesMatchesEncodingJSON(t *testing.T) {
	lines := []string{
		`{"text": "my dms wont send 😭", "intent": "cant_send"}`,
		`{"intent":"greet","text":"hi"}`,
		`  {  "text" :  "a b"  ,  "intent" : "x" }  `,
		`{"text": "she said \"no\"", "intent": "deny"}`,
		`{"text": "tab\there \u00e9", "intent": "x"}`,
		`{"text": "a\/b", "intent": "x"}`,
		`{"text": "ok", "intent": "x", "extra": "y"}`,
		`{"text": "ok"}`,
		`{"text": "ok", "intent": 3}`,
		`{"text": "ok", "intent": "x"} trailing`,
		"{\"text\": \"bad \xff utf8\", \"intent\": \"x\"}",
	}
	for _, l := range lines {
		got, gotErr := kb.ReadExamples(strings.NewReader(l))
		var want struct {
			Text   string `json:"text"`
			Intent string `json:"intent"`
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		wantErr := dec.Decode(&want)
		if wantErr == nil && dec.More() {
			wantErr = errors.New("trailing")
		}
		if wantErr == nil && (want.Text == "" || want.Intent == "") {
			wantErr = errors.New("empty")
		}
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%q: ReadExamples err %v, encoding/json err %v", l, gotErr, wantErr)
			continue
		}
		if gotErr == nil && (got[0].Text != want.Text || got[0].Intent != want.Intent) {
			t.Errorf("%q: got %+v, want %+v", l, got[0], want)
		}
	}
}
