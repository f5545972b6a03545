package kb_test

import (
	"testing"

	"github.com/dmdoctor/dmdoctor/kb"
)

func TestDefaultLoads(t *testing.T) {
	k, err := kb.Default()
	if err != nil {
		t.Fatalf("embedded knowledge base does not load:\n%v", err)
	}
	for _, id := range kb.CauseIDs {
		if k.Cause(id) == nil {
			t.Errorf("cause %q missing", id)
		}
	}
}
