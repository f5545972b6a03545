package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// BenchmarkColdStart measures what a user waits for when dmdoctor starts:
// a new process loads the embedded knowledge base, trains the classifier
// (see brain.BenchmarkStartup for the same in a warm process), opens a
// memory store, reads an empty standard input and exits.
func BenchmarkColdStart(b *testing.B) {
	bin := buildBinary(b)
	env := []string{"HOME=" + b.TempDir(), "PATH=" + os.Getenv("PATH")}
	for b.Loop() {
		cmd := exec.Command(bin, "chat")
		cmd.Stdin = strings.NewReader("")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dmdoctor chat: %v\n%s", err, out)
		}
	}
}
