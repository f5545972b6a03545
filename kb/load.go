package kb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Files and folders of a knowledge base directory.
const (
	CausesDir     = "causes"
	TriageFile    = "triage.yaml"
	FAQFile       = "faq.yaml"
	ChecklistFile = "checklist.yaml"
	MessagesFile  = "messages.yaml"
	TrainingFile  = "training.jsonl"
	EvalFile      = "eval.jsonl"
	DevFile       = "dev.jsonl"
)

// RequiredMessages are the assistant phrases the flows use; messages.yaml
// must define every one.
var RequiredMessages = []string{
	"welcome", "help", "ask_problem", "thanks", "start_over",
	"triage_intro", "pick_option", "cause_intro", "confirm_intro",
	"steps_intro", "ask_fixed", "fixed", "next_cause", "exhausted",
	"offer_human", "handoff", "handoff_waiting", "decline_human",
	"rephrase", "did_you_mean", "missed_twice", "stale",
	"out_of_scope", "empty", "too_long", "not_text", "checklist_intro",
	"faq_intro", "something_else",
	"btn_yes", "btn_no", "btn_fixed", "btn_not_fixed", "btn_human",
	"btn_checklist", "btn_faq", "btn_start_over", "btn_none", "btn_cant_send",
	"btn_no_thanks",
	"handoff_queue", "handoff_claimed", "relay", "handoff_expired", "leave_message",
	"message_left", "handoff_returned", "rate", "ask_comment", "rated", "rating_invalid",
	"handoff_cancelled", "forgot", "btn_leave_message", "btn_continue", "btn_skip",
	"mod_ticket", "mod_claimed_by", "mod_state", "mod_already_claimed", "mod_not_moderator",
	"mod_no_tickets", "mod_closed", "mod_not_found", "mod_not_yours", "mod_done", "mod_noted",
	"mod_user_message", "mod_left_message", "mod_rated", "mod_help",
	"btn_claim", "btn_resolve", "btn_return",
	"continue", "stale_short", "not_yours", "continue_private", "choose_one",
	"thread_name", "thread_opened", "failed", "rate_limited", "mod_hint", "mod_not_text", "mod_ticket_thread", "mod_sent",
}

// Placeholders lists, per message, the {placeholders} the code fills in;
// a message may use only those (a typo such as {titel} is an error).
var Placeholders = map[string][]string{
	"cause_intro":         {"title", "explanation"},
	"handoff_queue":       {"position"},
	"handoff_claimed":     {"moderator"},
	"relay":               {"moderator", "text"},
	"mod_ticket":          {"id", "user", "reason", "moderator", "state"},
	"mod_claimed_by":      {"id", "user", "reason", "moderator", "state"},
	"mod_state":           {"id", "user", "reason", "moderator", "state"},
	"mod_already_claimed": {"id", "moderator", "state"},
	"mod_closed":          {"id", "moderator", "state"},
	"mod_not_found":       {"id"},
	"mod_not_yours":       {"id", "moderator", "state"},
	"mod_done":            {"id", "moderator", "state"},
	"mod_noted":           {"id", "moderator", "state"},
	"mod_user_message":    {"user", "id", "text"},
	"mod_left_message":    {"user", "id", "text"},
	"mod_rated":           {"id", "rating", "text"},
	"thread_name":         {"user"},
	"mod_ticket_thread":   {"id"},
	"thread_opened":       {"thread"},
}

// Error is a validation error that names the file, line and field.
type Error struct {
	File  string
	Line  int    // 0 when unknown
	Field string // dotted path such as questions[1].options[0].then
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Errors collects every validation error found in one load.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return "kb: " + strings.Join(msgs, "\n    ")
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// loader holds the state of one Load.
type loader struct {
	fsys  fs.FS
	errs  Errors
	nodes map[string]*yaml.Node // file → parsed node tree, for line numbers
	data  map[string][]byte     // file → contents, parsed into nodes when an error needs a line
}

// Load reads and validates a knowledge base from fsys (the embedded data or
// a directory, via os.DirFS). Every problem found is reported, each naming
// the file, the line where known and the field.
func Load(fsys fs.FS) (*KB, error) {
	l := &loader{fsys: fsys, nodes: map[string]*yaml.Node{}, data: map[string][]byte{}}
	k := &KB{ByID: map[string]*Cause{}}

	names, err := fs.Glob(fsys, CausesDir+"/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("kb: %w", err)
	}

	// The example files are most of the bytes: read them while the YAML
	// files are decoded, and report their errors after the YAML files'.
	ex := &loader{fsys: fsys}
	exDone := make(chan struct{})
	go func() {
		defer close(exDone)
		k.Training = ex.examples(TrainingFile, true)
		k.Eval = ex.examples(EvalFile, false)
		k.Dev = ex.examples(DevFile, false)
	}()

	sort.Strings(names)
	if len(names) == 0 {
		l.add(CausesDir, "", "no cause files (*.yaml) found")
	}
	for _, name := range names {
		var c Cause
		if !l.decode(name, &c) {
			continue
		}
		c.File = name
		if prev, dup := k.ByID[c.ID]; dup && c.ID != "" {
			l.add(name, "id", "duplicate cause ID %q (also in %s)", c.ID, prev.File)
			continue
		}
		k.Causes = append(k.Causes, &c)
		if c.ID != "" {
			k.ByID[c.ID] = &c
		}
	}
	l.decode(TriageFile, &k.Triage)
	l.decode(FAQFile, &struct {
		FAQ *[]FAQ `yaml:"faq"`
	}{&k.FAQ})
	l.decode(ChecklistFile, &k.Checklist)
	l.decode(MessagesFile, &k.Messages)
	<-exDone
	l.errs = append(l.errs, ex.errs...)

	if len(l.errs) == 0 {
		l.validate(k)
	}
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	return k, nil
}

// add records an error. path is a dotted field path used both for the
// message and to find the line in the file's YAML tree.
func (l *loader) add(file, field, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: file, Line: l.line(file, field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) decode(name string, v any) bool {
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.errs = append(l.errs, &Error{File: name, Msg: "file is missing"})
		} else {
			l.errs = append(l.errs, &Error{File: name, Msg: err.Error()})
		}
		return false
	}
	if !utf8.Valid(data) {
		l.errs = append(l.errs, &Error{File: name, Msg: "file is not valid UTF-8"})
		return false
	}
	l.data[name] = data
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			l.errs = append(l.errs, &Error{File: name, Msg: "file is empty"})
			return false
		}
		l.errs = append(l.errs, yamlError(name, err))
		return false
	}
	return true
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml error ("yaml: line 3: ...", or a TypeError listing
// several "line N: ..." problems) into an Error naming the file and line.
func yamlError(name string, err error) *Error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: n, Msg: m[2]}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// line finds the line of a dotted field path (a.b[2].c) in a parsed file.
func (l *loader) line(file, field string) int {
	n := l.nodes[file]
	if n == nil {
		data, ok := l.data[file]
		if !ok {
			return 0
		}
		var root yaml.Node
		if yaml.Unmarshal(data, &root) != nil {
			return 0
		}
		n = &root
		l.nodes[file] = n
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	for i, part := range splitPath(field) {
		var next *yaml.Node
		switch {
		case part.index >= 0 && n.Kind == yaml.SequenceNode && part.index < len(n.Content):
			next = n.Content[part.index]
		case part.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part.key {
					next = n.Content[i+1]
					best = n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			if i == 0 {
				return 0 // a top-level field that isn't there
			}
			return best
		}
		n = next
		if n.Kind != yaml.MappingNode || part.index >= 0 {
			best = n.Line
		}
	}
	return best
}

type pathPart struct {
	key   string
	index int
}

func splitPath(p string) []pathPart {
	var parts []pathPart
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			continue
		}
		key, rest, _ := strings.Cut(seg, "[")
		if key != "" {
			parts = append(parts, pathPart{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(num); err == nil {
				parts = append(parts, pathPart{index: i})
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return parts
}

// MaxExampleBytes bounds one training or evaluation line.
const MaxExampleBytes = 4096

// examples reads a JSONL file of labelled examples.
func (l *loader) examples(name string, required bool) []Example {
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) && !required:
		case errors.Is(err, fs.ErrNotExist):
			l.errs = append(l.errs, &Error{File: name, Msg: "file is missing"})
		default:
			l.errs = append(l.errs, &Error{File: name, Msg: err.Error()})
		}
		return nil
	}
	exs, err := readExamples(data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = name
			l.errs = append(l.errs, e)
		} else {
			l.errs = append(l.errs, &Error{File: name, Msg: err.Error()})
		}
		return nil
	}
	return exs
}

// intern returns the intent b as one of the required intents' strings when
// it is one, without allocating, or as a new string.
func intern(b []byte) string {
	for _, id := range CauseIDs {
		if string(b) == id {
			return id
		}
	}
	for _, id := range BaseIntents {
		if string(b) == id {
			return id
		}
	}
	return string(b)
}

// ReadExamples reads JSONL lines {"text": ..., "intent": ...}. Blank lines
// are skipped; an error names the line. Start-up reads thousands of lines,
// so the common shape (two plain strings, no escapes) is read directly;
// anything else goes through encoding/json, which also reports the errors.
func ReadExamples(r io.Reader) ([]Example, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return readExamples(data)
}

func readExamples(data []byte) ([]Example, error) {
	out := make([]Example, 0, bytes.Count(data, []byte{'\n'})+1)
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		ex, ok := fastExample(line)
		if !ok {
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ex); err != nil {
				return nil, &Error{Line: n, Msg: "not a JSON object {\"text\", \"intent\"}: " + err.Error()}
			}
			if dec.More() {
				return nil, &Error{Line: n, Msg: "more than one JSON value on the line"}
			}
		}
		switch {
		case strings.TrimSpace(ex.Text) == "":
			return nil, &Error{Line: n, Field: "text", Msg: "is empty"}
		case len(ex.Text) > MaxExampleBytes:
			return nil, &Error{Line: n, Field: "text", Msg: fmt.Sprintf("longer than %d bytes", MaxExampleBytes)}
		case ex.Intent == "":
			return nil, &Error{Line: n, Field: "intent", Msg: "is empty"}
		}
		ex.Line = n
		out = append(out, ex)
	}
	return out, nil
}

// fastExample reads a line that is exactly {"text": "...", "intent": "..."}
// (either order, any spacing) with strings free of escapes and control
// characters, and valid UTF-8. Anything else returns ok false.
func fastExample(line []byte) (ex Example, ok bool) {
	p := line
	skip := func() {
		for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
			p = p[1:]
		}
	}
	expect := func(c byte) bool {
		skip()
		if len(p) == 0 || p[0] != c {
			return false
		}
		p = p[1:]
		return true
	}
	str := func() ([]byte, bool) {
		if !expect('"') {
			return nil, false
		}
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case c == '"':
				v := p[:i]
				p = p[i+1:]
				if !utf8.Valid(v) {
					return nil, false
				}
				return v, true
			case c == '\\' || c < 0x20:
				return nil, false
			}
		}
		return nil, false
	}
	if !expect('{') {
		return ex, false
	}
	for i := 0; i < 2; i++ {
		if i == 1 && !expect(',') {
			return ex, false
		}
		key, ok := str()
		if !ok || !expect(':') {
			return ex, false
		}
		val, ok := str()
		if !ok {
			return ex, false
		}
		switch {
		case string(key) == "text" && ex.Text == "":
			ex.Text = string(val)
		case string(key) == "intent" && ex.Intent == "":
			ex.Intent = intern(val)
		default:
			return Example{}, false
		}
	}
	if !expect('}') {
		return ex, false
	}
	skip()
	return ex, len(p) == 0
}

// ReadExamplesFile reads labelled examples from a file in fsys.
func ReadExamplesFile(fsys fs.FS, name string) ([]Example, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exs, err := ReadExamples(f)
	var e *Error
	if errors.As(err, &e) {
		e.File = path.Base(name)
	}
	return exs, err
}
