package kb_test
import ("strings";"testing";"github.com/dmdoctor/dmdoctor/kb")
func TestReadExamplesLines(t *testing.T) {
	exs, err := kb.ReadExamples(strings.NewReader("\n{\"text\": \"a\", \"intent\": \"x\"}\n\n  {\"text\": \"b\", \"intent\": \"y\"}\r\n{\"text\": \"c\", \"intent\": \"z\"}"))
	if err != nil || len(exs) != 3 || exs[0].Line != 2 || exs[1].Line != 4 || exs[2].Line != 5 {
		t.Fatalf("%+v %v", exs, err)
	}
	for in, want := range map[string]string{
		"{\"text\": \"a\", \"intent\": \"x\"}\n{\"text\": \"a\"": "2: not a JSON object",
		"{\"text\": \"a\", \"intent\": \"x\"} {\"text\": \"b\", \"intent\": \"y\"}": "1: two JSON values",
		"\n\n{\"text\": \"a\", \"intent\": \"x\", \"extra\": 1}": "3: not a JSON object",
		"{\"text\": \" \", \"intent\": \"x\"}": "1: text: is empty",
		"[1]": "1: not a JSON object",
	} {
		_, err := kb.ReadExamples(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}
