// Package discordtest is a fake Discord for tests: REST and the websocket
// gateway, on loopback, speaking Discord's wire format (API v9, JSON), so
// the real discordgo library is exercised. It records every call, checks
// Discord's message limits (and that allowed_mentions pings nobody) and
// slash command definitions, injects 429s and 5xx, and can drop, refuse or
// resume gateway sessions. Messages are posted and edited; a thread started
// from a message takes the message's ID, as on Discord; users have roles
// in servers (the member of their messages and interactions).
//
// Point a client at it with Server.Client (an *http.Client that sends
// https://discord.com/api/… to the fake) or by using Server.URL+"/api" as
// the API base; the gateway URL comes from the fake's GET /gateway.
// It imports no Discord library: it is written from Discord's
// documentation, not from the client under test.
package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/gorilla/websocket"
)

// Defaults of a Server.
const (
	DefaultToken = "fake-bot-token-NOT-REAL.xyz"
	BotID        = "900000000000000001"
	AppID        = "900000000000000002"
	BotName      = "dmdoctor"
)

// Server is a fake Discord. Create it with New; it closes itself when the
// test ends.
type Server struct {
	// URL is the base URL of the server (http://127.0.0.1:port).
	URL string
	// Token is the bot token it accepts (without "Bot ").
	Token string

	srv       *httptest.Server
	heartbeat time.Duration

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	nextID  uint64
	calls   []Call
	faults  []*fault
	msgs    []*Message
	byID    map[string]*Message
	ixs     map[string]*interaction // by interaction ID
	threads map[string]Thread

	commands []map[string]any          // the commands last registered
	channels map[string]map[string]any // answers of GET /channels/{id} (AddChannel)

	// noThreads are channels where no thread can be opened (other
	// threads, channels without the permission).
	noThreads map[string]bool

	// gateway
	conn         *gwConn
	conns        map[*gwConn]bool
	handlers     sync.WaitGroup
	session      string
	seq          int64
	history      []frame // dispatches of the session, for resume
	identifies   []Identify
	resumes      []Resume
	heartbeats   int
	rejectResume bool
	replayExtra  int
	refuse       int64 // intents whose request closes the connection with 4014
	closed       bool
}

// Call is one REST request the server received.
type Call struct {
	Method string
	Path   string // after /api/v9, e.g. /channels/1/messages
	Query  string
	Body   json.RawMessage
	Status int // the status answered
	Time   time.Time
}

// Message is a message the bot posted (or an interaction response).
type Message struct {
	ID        string
	ChannelID string
	Content   string
	Buttons   [][]Button // action rows
	Ephemeral bool
	// Via: "channel" (POST /channels/…/messages), "response" (an
	// interaction's response, edited later), "followup".
	Via         string
	Interaction string // the interaction it answers, if any
	Deleted     bool
	Edits       int
	// ReplyTo is the message it replies to (message_reference), if any.
	ReplyTo string
}

// Button is a button of a message.
type Button struct {
	CustomID string `json:"custom_id"`
	Label    string `json:"label"`
}

// Thread is a thread the bot opened (or one made with AddThread).
type Thread struct {
	ID, ParentID, Name, FromMessage string
	Owner                           string // the user who opened it (BotID for the bot)
	Members                         []string
}

// Identify is one Identify (op 2) the gateway received.
type Identify struct {
	Token   string
	Intents int64
	Shard   *[2]int // [shard ID, shard count], when the bot sharded
}

// Resume is one Resume (op 6) the gateway received.
type Resume struct {
	Token     string
	SessionID string
	Seq       int64
}

type interaction struct {
	id, token, channel string
	kind               int
	dispatched         time.Time
	acked              time.Time
	ackType            int
	original           string // message ID of @original
}

type fault struct {
	method, prefix string
	status         int
	times          int
	retryAfter     time.Duration
}

type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

type gwConn struct {
	ws    *websocket.Conn
	ready bool // identified or resumed: dispatches may flow
}

// Option configures a Server.
type Option func(*Server)

// HeartbeatInterval sets the interval sent in Hello (default 1s; the
// client sends its first heartbeat at once).
func HeartbeatInterval(d time.Duration) Option { return func(s *Server) { s.heartbeat = d } }

// New starts a fake Discord on 127.0.0.1.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		Token:     DefaultToken,
		heartbeat: time.Second,
		changed:   make(chan struct{}),
		nextID:    100_000_000_000_000_000,
		byID:      map[string]*Message{},
		ixs:       map[string]*interaction{},
		threads:   map[string]Thread{},
		channels:  map[string]map[string]any{},
		noThreads: map[string]bool{},
		conns:     map[*gwConn]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	s.routes(mux)
	s.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and its gateway connections.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.ws.NetConn().Close()
	}
	s.mu.Unlock()
	s.srv.Close()
	s.handlers.Wait()
}

// Client returns an HTTP client that sends https://discord.com/api/…
// requests to the server (and refuses any other host).
func (s *Server) Client() *http.Client {
	base, _ := url.Parse(s.URL)
	return &http.Client{Transport: redirect{to: base}}
}

type redirect struct{ to *url.URL }

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "discord.com" {
		return nil, fmt.Errorf("discordtest: request to %s refused: only discord.com is faked", req.URL.Host)
	}
	c := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = r.to.Scheme, r.to.Host
	c.URL, c.Host = &u, ""
	return http.DefaultTransport.RoundTrip(c)
}

// --- state shared with tests ---

func (s *Server) id() string {
	s.nextID++
	return strconv.FormatUint(s.nextID, 10)
}

// notify wakes the waiters; s.mu is held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond (called with the server locked, so it may call
// no other method; use the fields passed) holds, failing the test after
// timeout.
func (s *Server) Wait(t testing.TB, what string, timeout time.Duration, cond func(v View) bool) View {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		v := s.view()
		ch := s.changed
		ok := cond(v)
		s.mu.Unlock()
		if ok {
			return v
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("discordtest: timed out after %v waiting for %s; calls:\n%s", timeout, what, v.CallLog())
			return v
		}
	}
}

// View is a snapshot of what the server saw.
type View struct {
	Calls      []Call
	Messages   []Message
	Threads    map[string]Thread
	Identifies []Identify
	Resumes    []Resume
	Heartbeats int
	Connected  bool // a gateway connection is identified or resumed
	// AckLatency is, per interaction ID, the time from dispatch to its
	// acknowledgement (absent when not acknowledged).
	AckLatency map[string]time.Duration
	// AckType is, per interaction ID, the callback type it was answered with.
	AckType map[string]int
}

// Snapshot returns what the server saw so far.
func (s *Server) Snapshot() View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view()
}

func (s *Server) view() View {
	v := View{
		Calls:      append([]Call(nil), s.calls...),
		Threads:    map[string]Thread{},
		Identifies: append([]Identify(nil), s.identifies...),
		Resumes:    append([]Resume(nil), s.resumes...),
		Heartbeats: s.heartbeats,
		Connected:  s.conn != nil && s.conn.ready,
		AckLatency: map[string]time.Duration{},
		AckType:    map[string]int{},
	}
	for _, m := range s.msgs {
		c := *m
		c.Buttons = append([][]Button(nil), m.Buttons...)
		v.Messages = append(v.Messages, c)
	}
	for k, th := range s.threads {
		v.Threads[k] = th
	}
	for id, ix := range s.ixs {
		if !ix.acked.IsZero() {
			v.AckLatency[id] = ix.acked.Sub(ix.dispatched)
			v.AckType[id] = ix.ackType
		}
	}
	return v
}

// In returns the messages visible in a channel (not deleted), in order.
func (v View) In(channelID string) []Message {
	var out []Message
	for _, m := range v.Messages {
		if m.ChannelID == channelID && !m.Deleted && (m.Content != "" || len(m.Buttons) > 0) {
			out = append(out, m)
		}
	}
	return out
}

// CallsTo returns the calls of a method whose path starts with prefix.
func (v View) CallsTo(method, prefix string) []Call {
	var out []Call
	for _, c := range v.Calls {
		if c.Method == method && strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// CallLog lists the calls, one a line.
func (v View) CallLog() string {
	var b strings.Builder
	for _, c := range v.Calls {
		fmt.Fprintf(&b, "  %s %s -> %d %s\n", c.Method, c.Path, c.Status, clip(string(c.Body), 300))
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Fail makes the next times requests of method whose path (after /api/v9)
// starts with prefix fail with status. A 429 carries retry_after and the
// X-RateLimit headers as Discord sends them.
func (s *Server) Fail(method, prefix string, status, times int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, prefix: prefix, status: status, times: times, retryAfter: retryAfter})
}

// RefuseThreads makes opening a thread in channelID fail, as Discord does
// in a thread or where the bot lacks the permission.
func (s *Server) RefuseThreads(channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noThreads[channelID] = true
}

// AddChannel makes GET /channels/{id} answer with a channel of a server
// of this type (0: text, 2: voice, 11: public thread…).
func (s *Server) AddChannel(id, guildID string, typ int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = map[string]any{"id": id, "type": typ, "guild_id": guildID, "name": "channel-" + id}
}

// AddThread makes a thread someone else opened (Owner) known to the fake,
// as if it had been opened before.
func (s *Server) AddThread(th Thread) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.threads[th.ID] = th
}

// Commands returns the slash commands last registered, as JSON objects.
func (s *Server) Commands() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.commands...)
}

// Thread returns a thread the bot opened.
func (s *Server) Thread(id string) (Thread, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[id]
	return th, ok
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
