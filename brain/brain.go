// Package brain assembles the assistant from its parts: it loads a
// knowledge base, trains the intent classifier on the KB's examples and
// builds the engine. cmd/dmdoctor, the story runner and the load tests
// all start here, so they run the same assistant.
package brain

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
)

// LoadKB loads the knowledge base from dir, or the embedded one when dir
// is empty.
func LoadKB(dir string) (*kb.KB, error) {
	if dir == "" {
		return kb.Default()
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("knowledge base: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("knowledge base: %s is not a directory", dir)
	}
	return kb.Load(os.DirFS(dir))
}

// LoadFS loads a knowledge base from any file system.
func LoadFS(fsys fs.FS) (*kb.KB, error) { return kb.Load(fsys) }

// Examples converts KB examples to the classifier's.
func Examples(exs []kb.Example) []intents.Example {
	out := make([]intents.Example, len(exs))
	for i, e := range exs {
		out[i] = intents.Example{Text: e.Text, Intent: e.Intent}
	}
	return out
}

// Train trains the intent classifier on a KB's training examples.
func Train(k *kb.KB) (*intents.Model, error) {
	m, err := intents.Train(Examples(k.Training), intents.Options{})
	if err != nil {
		return nil, fmt.Errorf("training the classifier: %w", err)
	}
	return m, nil
}
