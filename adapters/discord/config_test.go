package discord

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
)

const testSecret = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.SECRET-token_value"

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     func(string) string
		enabled bool
		wantErr string
		check   func(Config) bool
	}{
		{name: "off", env: env(), enabled: false},
		{name: "blank token is off", env: env(EnvToken, "  "), enabled: false},
		{name: "token only", env: env(EnvToken, testSecret), enabled: true,
			check: func(c Config) bool { return c.Token == testSecret && c.APIURL == "" && c.GuildID == "" }},
		{name: "all", env: env(EnvToken, " "+testSecret+"\n", EnvAPIURL, "http://nirn:8080", EnvGuildID, "123456789012345678"), enabled: true,
			check: func(c Config) bool {
				return c.Token == testSecret && c.APIURL == "http://nirn:8080" && c.GuildID == "123456789012345678"
			}},
		{name: "bad guild", env: env(EnvToken, testSecret, EnvGuildID, "my-server"), enabled: true, wantErr: EnvGuildID},
		{name: "guild with sign", env: env(EnvToken, testSecret, EnvGuildID, "+123456789012345678"), enabled: true, wantErr: EnvGuildID},
		{name: "guild overflows", env: env(EnvToken, testSecret, EnvGuildID, "99999999999999999999"), enabled: true, wantErr: EnvGuildID},
		{name: "bad API URL", env: env(EnvToken, testSecret, EnvAPIURL, "ftp://user:pw@proxy"), enabled: true, wantErr: EnvAPIURL},
		{name: "API URL without host", env: env(EnvToken, testSecret, EnvAPIURL, "http:///api"), enabled: true, wantErr: EnvAPIURL},
		{name: "token with space", env: env(EnvToken, "abc def"), enabled: true, wantErr: EnvToken},
		{name: "moderators", env: env(EnvToken, testSecret, EnvModChannelID, " 123456789012345678 ", EnvModRoleID, "223456789012345678"), enabled: true,
			check: func(c Config) bool {
				return c.ModChannelID == "123456789012345678" && c.ModRoleID == "223456789012345678"
			}},
		{name: "moderators' channel without a role", env: env(EnvToken, testSecret, EnvModChannelID, "123456789012345678"), enabled: true,
			wantErr: "a moderators' place without moderators"},
		{name: "moderators' role without a channel", env: env(EnvToken, testSecret, EnvModRoleID, "123456789012345678"), enabled: true,
			wantErr: EnvModChannelID},
		{name: "channel name instead of ID", env: env(EnvToken, testSecret, EnvModChannelID, "#mods", EnvModRoleID, "223456789012345678"), enabled: true,
			wantErr: EnvModChannelID},
		{name: "role mention instead of ID", env: env(EnvToken, testSecret, EnvModChannelID, "123456789012345678", EnvModRoleID, "<@&223456789012345678>"), enabled: true,
			wantErr: EnvModRoleID},
		{name: "moderators without a token", env: env(EnvModChannelID, "123456789012345678", EnvModRoleID, "223456789012345678"), enabled: false,
			wantErr: EnvToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, enabled, err := ConfigFromEnv(tt.env)
			if enabled != tt.enabled {
				t.Errorf("enabled = %v, want %v", enabled, tt.enabled)
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			}
			if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "pw")) {
				t.Errorf("error shows a secret: %v", err)
			}
			if tt.check != nil && !tt.check(cfg) {
				t.Errorf("config = %+v", cfg)
			}
		})
	}
}

func ExampleConfigFromEnv() {
	getenv := func(k string) string {
		return map[string]string{
			"DISCORD_BOT_TOKEN": "your-token",
			"DISCORD_GUILD_ID":  "123456789012345678",
		}[k]
	}
	cfg, enabled, err := ConfigFromEnv(getenv)
	fmt.Println(enabled, err, cfg.GuildID)
	// Output: true <nil> 123456789012345678
}

func TestNewValidates(t *testing.T) {
	h := handlerFunc(nil)
	if _, err := New(Config{}, h); err == nil {
		t.Error("New without a token succeeded")
	}
	if _, err := New(Config{Token: testSecret}, nil); err == nil {
		t.Error("New without a handler succeeded")
	}
	a, err := New(Config{Token: "Bot " + testSecret}, h)
	if err != nil {
		t.Fatal(err)
	}
	if a.token != "Bot "+testSecret || a.secret != testSecret {
		t.Errorf("token %q secret %q", a.token, a.secret)
	}
}

func TestRewriteTransport(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, tt := range []struct{ base, want string }{
		{srv.URL, "/api/v9/channels/1/messages?wait=true"},
		{srv.URL + "/", "/api/v9/channels/1/messages?wait=true"},
		{srv.URL + "/nirn/api/", "/nirn/api/v9/channels/1/messages?wait=true"},
	} {
		got = nil
		c, err := httpClient(Config{APIURL: tt.base, HTTPClient: srv.Client(), RequestTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", "https://discord.com/api/v9/channels/1/messages?wait=true", nil)
		req.Header.Set("Authorization", "Bot x")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(srv.URL)
		if want := u.Host + " " + tt.want + " Bot x"; len(got) != 1 || got[0] != want {
			t.Errorf("base %s: server saw %q, want %q", tt.base, got, want)
		}
		if req.URL.Host != "discord.com" {
			t.Errorf("the caller's request was modified")
		}
	}
	// Other hosts are left alone.
	c, _ := httpClient(Config{APIURL: srv.URL, HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("passed through to " + r.URL.Host)
	})}})
	_, err := c.Get("https://cdn.discordapp.com/x.png")
	if err == nil || !strings.Contains(err.Error(), "passed through to cdn.discordapp.com") {
		t.Errorf("non-API request: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRedact(t *testing.T) {
	a, err := New(Config{Token: testSecret}, handlerFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	in := `Post "https://discord.com/api/v9/interactions/123/itok-abc.DEF_ghi/callback": token ` + testSecret +
		` and https://discord.com/api/v9/webhooks/456/aW50ZXJhY3Rpb24?wait=true`
	got := a.redact(in)
	for _, secret := range []string{testSecret, "itok-abc.DEF_ghi", "aW50ZXJhY3Rpb24"} {
		if strings.Contains(got, secret) {
			t.Errorf("redact left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "/interactions/123/[token]/callback") || !strings.Contains(got, "/webhooks/456/[token]?wait=true") {
		t.Errorf("redact = %q", got)
	}
	err = a.scrub("op", errors.New(in))
	if strings.Contains(err.Error(), testSecret) || !errors.Is(err, errors.Unwrap(err)) {
		t.Errorf("scrub = %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	a, err := New(Config{Token: testSecret, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second, MaxRetryAfter: 5 * time.Second}, handlerFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	rl := func(d time.Duration) error {
		return &discordgo.RateLimitError{RateLimit: &discordgo.RateLimit{TooManyRequests: &discordgo.TooManyRequests{RetryAfter: d}}}
	}
	rest := func(status int) error {
		return &discordgo.RESTError{Response: &http.Response{StatusCode: status, Status: http.StatusText(status)}}
	}
	tests := []struct {
		name   string
		err    error
		retry  bool
		wait   time.Duration // exact, or 0 for backoff range
		minMax [2]time.Duration
	}{
		{name: "429", err: rl(1500 * time.Millisecond), retry: true, wait: 1500 * time.Millisecond},
		{name: "429 too long", err: rl(time.Minute), retry: false},
		{name: "500", err: rest(500), retry: true, minMax: [2]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "503 wrapped", err: fmt.Errorf("x: %w", rest(503)), retry: true, minMax: [2]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "502 from discordgo", err: errors.New("Exceeded Max retries HTTP 502 Bad Gateway, "), retry: true, minMax: [2]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "400", err: rest(400), retry: false},
		{name: "403", err: rest(403), retry: false},
		{name: "network", err: &url.Error{Op: "Post", URL: "https://discord.com", Err: errors.New("connection refused")}, retry: true, minMax: [2]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "json", err: discordgo.ErrJSONUnmarshal, retry: false},
	}
	for _, tt := range tests {
		wait, retry := a.retryAfter(tt.err, 2)
		if retry != tt.retry {
			t.Errorf("%s: retry = %v, want %v", tt.name, retry, tt.retry)
			continue
		}
		if !retry {
			continue
		}
		if tt.wait != 0 && wait != tt.wait || tt.wait == 0 && (wait < tt.minMax[0] || wait > tt.minMax[1]) {
			t.Errorf("%s: wait %v", tt.name, wait)
		}
	}
	for attempt := 1; attempt < 20; attempt++ {
		if d := a.backoff(attempt); d > time.Second || d < 0 {
			t.Fatalf("backoff(%d) = %v", attempt, d)
		}
	}
}

func TestFIFOMap(t *testing.T) {
	m := newFIFOMap[string](3)
	for i, k := range []string{"a", "b", "c", "d"} {
		if !m.add(k, fmt.Sprint(i)) {
			t.Errorf("add(%s) not new", k)
		}
	}
	if m.add("d", "x") {
		t.Error("add(d) again was new")
	}
	if _, ok := m.get("a"); ok || m.len() != 3 {
		t.Errorf("oldest kept or len %d", m.len())
	}
	if v, ok := m.get("d"); !ok || v != "x" {
		t.Errorf("get(d) = %q, %v", v, ok)
	}
}

func TestShardsFromEnv(t *testing.T) {
	env := map[string]string{EnvToken: "tok", EnvShardID: "1", EnvShardCount: "2"}
	cfg, on, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || !on || cfg.ShardID != 1 || cfg.ShardCount != 2 {
		t.Fatalf("cfg %+v on %v err %v", cfg, on, err)
	}
	for _, bad := range [][2]string{{"2", "2"}, {"-1", "2"}, {"0", ""}, {"x", "2"}, {"0", "0"}} {
		env[EnvShardID], env[EnvShardCount] = bad[0], bad[1]
		if _, _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("shard %q of %q accepted", bad[0], bad[1])
		}
	}
}
