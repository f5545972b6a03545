package intents

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Example is one labelled line of training or evaluation data.
type Example struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
}

// ReadJSONL reads labelled examples, one JSON object {"text": ..., "intent":
// ...} a line. Blank lines are skipped; other fields are ignored. An error
// names the line it is about ("line 12: ..."): a line that is not such an
// object, or whose intent is missing or empty.
func ReadJSONL(r io.Reader) ([]Example, error) {
	br := bufio.NewReader(r)
	var out []Example
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return out, fmt.Errorf("intents: line %d: %w", n, err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var ex Example
			if jerr := json.Unmarshal(line, &ex); jerr != nil {
				return out, fmt.Errorf("intents: line %d: %w", n, jerr)
			}
			if ex.Intent == "" {
				return out, fmt.Errorf("intents: line %d: missing intent", n)
			}
			out = append(out, ex)
		}
		if err != nil {
			return out, nil
		}
	}
}
