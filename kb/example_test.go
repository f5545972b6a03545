package kb_test

import (
	"fmt"
	"strings"
	"testing/fstest"

	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/kb/kbtest"
)

// Load reports every problem with the file, the line and the field.
func ExampleLoad() {
	fs := kbtest.FS()
	triage := strings.Replace(string(fs["triage.yaml"].Data), "then: temporary_ban", "then: temp_ban", 1)
	fs["triage.yaml"] = &fstest.MapFile{Data: []byte(triage)}
	_, err := kb.Load(fs)
	fmt.Println(err)
	// Output:
	// kb: triage.yaml:8: questions[0].options[0].then: unknown cause ID "temp_ban"
}
