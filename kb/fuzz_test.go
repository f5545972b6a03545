package kb_test

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/kb/kbtest"
)

// FuzzLoad replaces one file of a valid knowledge base with arbitrary
// bytes: Load must never panic, must fail with kb.Errors naming a file, and
// whatever it accepts must hold what the flows rely on.
func FuzzLoad(f *testing.F) {
	base := kbtest.FS()
	files := []string{"triage.yaml", "causes/network.yaml", "faq.yaml", "checklist.yaml", "messages.yaml", "training.jsonl"}
	for i, name := range files {
		f.Add(uint8(i), base[name].Data)
	}
	f.Add(uint8(0), []byte("questions: [{id: x, options: [{id: a, then: network}, {id: b}]}]"))
	f.Add(uint8(1), []byte("id: network\nsteps: [\"\"]\nquestions: [{id: q, text: t, options: [{id: a, label: A, then: q}, {id: b, label: B, then: q}]}]"))
	f.Add(uint8(5), []byte("{\"text\": \"\\u0000\", \"intent\": \"greet\"}\n{"))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		fs := fstest.MapFS{}
		for k, v := range base {
			fs[k] = v
		}
		name := files[int(which)%len(files)]
		fs[name] = &fstest.MapFile{Data: data}
		k, err := kb.Load(fs)
		if err != nil {
			var es kb.Errors
			if !errors.As(err, &es) || len(es) == 0 || es[0].File == "" {
				t.Fatalf("error without a file: %v", err)
			}
			return
		}
		for _, c := range k.Causes {
			if len(c.Steps) == 0 || c.Title == "" || c.Prior <= 0 {
				t.Fatalf("accepted cause %q without steps, title or prior", c.ID)
			}
		}
		for _, q := range k.Triage.Questions {
			if len(q.Options) < 2 {
				t.Fatalf("accepted triage question %q with %d answers", q.ID, len(q.Options))
			}
		}
		for _, name := range kb.RequiredMessages {
			if k.Msg(name) == "" {
				t.Fatalf("accepted without message %q", name)
			}
		}
	})
}
