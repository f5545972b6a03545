package discord

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Defaults of Config.
const (
	DefaultRequestTimeout = 20 * time.Second
	DefaultMaxAttempts    = 4
	DefaultBackoff        = 250 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxRetryAfter  = 30 * time.Second
	DefaultShutdownGrace  = 5 * time.Second
	DefaultOpenTimeout    = 15 * time.Second
)

// Config configures the Discord channel. Only Token is required.
type Config struct {
	// Token is the bot token from the Developer Portal (with or without
	// the "Bot " prefix). It is never logged and is scrubbed from errors.
	Token string
	// APIURL replaces https://discord.com/api for every REST call, for a
	// proxy that speaks Discord's API (such as nirn-proxy); the gateway
	// URL is then asked of it too. A URL without a path gets "/api".
	// Default: Discord itself.
	APIURL string
	// GuildID, when set, registers the slash commands in that one server
	// (they appear at once: for development) instead of globally.
	GuildID string
	// ShardID and ShardCount split the gateway between instances
	// (DISCORD_SHARD_ID, DISCORD_SHARD_COUNT): instance i of n gets the
	// servers Discord assigns to shard i; DMs go to shard 0. ShardCount 0
	// means one unsharded connection.
	ShardID, ShardCount int
	// Logger gets operational logs (never the token, never message text).
	// Default: discard.
	Logger *slog.Logger
	// Observer counts messages, API errors, retries and undelivered
	// replies. Default bot.NopObserver.
	Observer bot.Observer
	// HTTPClient makes the REST calls; its Transport is wrapped (tests
	// route discord.com to a fake server with it). Default: a new client
	// on http.DefaultTransport.
	HTTPClient *http.Client
	// RequestTimeout bounds one REST call. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxAttempts bounds the tries of one REST call (429, 5xx and network
	// errors are retried). Default DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the first wait after a 5xx or network error; it doubles
	// (with jitter) up to MaxBackoff. Defaults DefaultBackoff and
	// DefaultMaxBackoff; MaxBackoff also caps the gateway's reconnect wait.
	Backoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest 429 retry_after honoured; a call asked
	// to wait longer fails. Default DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// ShutdownGrace is how long turns in progress may finish after the
	// context of Run ends. Default DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// OpenTimeout bounds one gateway connection attempt (dial, Hello,
	// Identify or Resume). Default DefaultOpenTimeout.
	OpenTimeout time.Duration
	// NoMessageContent leaves out the privileged message content intent.
	// The adapter also drops it by itself when Discord refuses it (close
	// code 4014); the bot then works through slash commands, mentions and
	// DMs only.
	NoMessageContent bool
	// ModChannelID, when set, makes the channel a moderators' place
	// (bot.ModPlace): hand-off tickets from every channel are posted to
	// this server text channel (best a private one), each with Claim,
	// Resolve and Return buttons and a thread where moderators talk with
	// the user. Nothing said there reaches the assistant.
	ModChannelID string
	// ModRoleID is the role of the moderators: only members with it may
	// press the ticket buttons, use /mod or write to users. Required with
	// ModChannelID.
	ModRoleID string
	// Texts are the channel's own words. Empty fields take DefaultTexts.
	Texts Texts
}

// Texts are the few words the Discord channel says itself; everything
// else comes from the knowledge base. {user} and {thread} are filled in.
type Texts struct {
	// ThreadName names the thread opened for a user ({user}: their name).
	ThreadName string
	// ThreadOpened answers a slash command used in a server channel,
	// privately, with a link to the thread ({thread}).
	ThreadOpened string
	// NotYours answers, privately, a press on a button of someone else's
	// conversation.
	NotYours string
	// Failed is said when a turn failed and had nothing to say.
	Failed string
	// TicketThread names the thread of a ticket in the moderators'
	// channel ({id}: the ticket number).
	TicketThread string
	// ModSent confirms, privately, a moderator's /mod reply.
	ModSent string
	// ModNotText answers a moderator who wrote something without text in
	// a ticket's thread (only text reaches the user).
	ModNotText string
}

// DefaultTexts are the English Texts.
var DefaultTexts = Texts{
	ThreadName:   "TikTok messages help for {user}",
	ThreadOpened: "I opened a thread for you: {thread}. Let's continue there.",
	NotYours:     "These buttons belong to someone else's conversation. Use /troubleshoot to start your own.",
	Failed:       "Sorry, something went wrong on my side. Please try again in a moment.",
	TicketThread: "Ticket #{id}",
	ModSent:      "Sent to the user.",
	ModNotText:   "Only text reaches the user. Please describe it in words.",
}

func (t Texts) withDefaults() Texts {
	d := DefaultTexts
	for _, f := range []struct {
		v *string
		d string
	}{
		{&t.ThreadName, d.ThreadName}, {&t.ThreadOpened, d.ThreadOpened}, {&t.NotYours, d.NotYours},
		{&t.Failed, d.Failed}, {&t.TicketThread, d.TicketThread}, {&t.ModSent, d.ModSent}, {&t.ModNotText, d.ModNotText},
	} {
		if *f.v == "" {
			*f.v = f.d
		}
	}
	return t
}

// Environment variables read by ConfigFromEnv.
const (
	EnvToken   = "DISCORD_BOT_TOKEN"
	EnvAPIURL  = "DISCORD_API_URL"
	EnvGuildID = "DISCORD_GUILD_ID"
	// EnvModChannelID and EnvModRoleID make the channel a moderators'
	// place (Config.ModChannelID, Config.ModRoleID).
	EnvModChannelID = "DISCORD_MOD_CHANNEL_ID"
	EnvModRoleID    = "DISCORD_MOD_ROLE_ID"
	// EnvShardID and EnvShardCount shard the gateway between instances.
	EnvShardID    = "DISCORD_SHARD_ID"
	EnvShardCount = "DISCORD_SHARD_COUNT"
)

// ConfigFromEnv reads the channel's configuration from the environment:
// DISCORD_BOT_TOKEN (the channel is enabled when it is set),
// DISCORD_API_URL, DISCORD_GUILD_ID, and DISCORD_MOD_CHANNEL_ID with
// DISCORD_MOD_ROLE_ID for the moderators' place. Errors never contain the
// token.
func ConfigFromEnv(getenv func(string) string) (Config, bool, error) {
	cfg := Config{
		Token:        strings.TrimSpace(getenv(EnvToken)),
		APIURL:       strings.TrimSpace(getenv(EnvAPIURL)),
		GuildID:      strings.TrimSpace(getenv(EnvGuildID)),
		ModChannelID: strings.TrimSpace(getenv(EnvModChannelID)),
		ModRoleID:    strings.TrimSpace(getenv(EnvModRoleID)),
	}
	if cfg.Token == "" {
		if cfg.ModChannelID != "" || cfg.ModRoleID != "" {
			return Config{}, false, fmt.Errorf("discord: %s or %s is set but %s is not", EnvModChannelID, EnvModRoleID, EnvToken)
		}
		return Config{}, false, nil
	}
	if id, count := getenv(EnvShardID), getenv(EnvShardCount); id != "" || count != "" {
		var err1, err2 error
		cfg.ShardID, err1 = strconv.Atoi(strings.TrimSpace(id))
		cfg.ShardCount, err2 = strconv.Atoi(strings.TrimSpace(count))
		if err1 != nil || err2 != nil || cfg.ShardCount < 1 || cfg.ShardID < 0 || cfg.ShardID >= cfg.ShardCount {
			return Config{}, true, fmt.Errorf("discord: %s and %s must be set together, with 0 <= %s < %s (got %q and %q)",
				EnvShardID, EnvShardCount, EnvShardID, EnvShardCount, clip(id, 12), clip(count, 12))
		}
	}
	if err := cfg.validate(); err != nil {
		return Config{}, true, err
	}
	return cfg, true, nil
}

// validate checks the fields a person sets; its errors never echo the
// token or the API URL (which may carry credentials).
func (c Config) validate() error {
	tok := strings.TrimPrefix(c.Token, "Bot ")
	switch {
	case tok == "":
		return fmt.Errorf("discord: %s is empty", EnvToken)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("discord: %s contains spaces or control characters", EnvToken)
	}
	if c.APIURL != "" {
		if _, err := apiBase(c.APIURL); err != nil {
			return fmt.Errorf("discord: %s: %w", EnvAPIURL, err)
		}
	}
	if c.GuildID != "" && !isSnowflake(c.GuildID) {
		return fmt.Errorf("discord: %s must be a server ID (a number like 123456789012345678), got %q", EnvGuildID, clip(c.GuildID, 32))
	}
	switch {
	case c.ModChannelID != "" && !isSnowflake(c.ModChannelID):
		return fmt.Errorf("discord: %s must be a channel ID (a number like 123456789012345678: right-click the channel, Copy Channel ID), got %q", EnvModChannelID, clip(c.ModChannelID, 32))
	case c.ModRoleID != "" && !isSnowflake(c.ModRoleID):
		return fmt.Errorf("discord: %s must be a role ID (a number like 123456789012345678: Server Settings, Roles, right-click the role, Copy Role ID), got %q", EnvModRoleID, clip(c.ModRoleID, 32))
	case c.ModChannelID != "" && c.ModRoleID == "":
		return fmt.Errorf("discord: %s is set without %s: a moderators' place without moderators", EnvModChannelID, EnvModRoleID)
	case c.ModRoleID != "" && c.ModChannelID == "":
		return fmt.Errorf("discord: %s is set without %s: moderators without a place to work", EnvModRoleID, EnvModChannelID)
	}
	return nil
}

// apiBase parses an API URL; a URL without a path gets /api.
func apiBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("must be an http:// or https:// URL with a host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not have a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if u.Path == "" {
		u.Path = "/api"
	}
	u.RawPath = ""
	return u, nil
}

// isSnowflake reports whether s is a Discord ID: a positive 64-bit
// decimal number without sign or leading zero.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = bot.NopObserver{}
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	c.Texts = c.Texts.withDefaults()
	return c
}
