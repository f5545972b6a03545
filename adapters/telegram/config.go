package telegram

import (
	"crypto/rand"
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
	DefaultAPIURL         = "https://api.telegram.org"
	DefaultPollTimeout    = 50 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxAttempts    = 5
	DefaultBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxRetryAfter  = time.Minute
	DefaultShutdownGrace  = 5 * time.Second
	DefaultDeepLinkAfter  = 6
	DefaultWebhookListen  = ":8443"
)

// Config configures the Telegram channel. Only Token is required.
type Config struct {
	// Token is the bot token BotFather gave. It is never logged and is
	// scrubbed from every error.
	Token string
	// APIURL is the Bot API server, for a self-hosted one (the official
	// server's local mode). Default DefaultAPIURL.
	APIURL string
	// Webhook, when set, receives updates by webhook instead of long
	// polling.
	Webhook *WebhookConfig
	// Logger gets operational logs (never the token, never message text).
	// Default: discard.
	Logger *slog.Logger
	// Observer counts messages, API errors, retries and undelivered
	// replies. Default bot.NopObserver.
	Observer bot.Observer
	// PollTimeout is how long one getUpdates long poll may stay open
	// (whole seconds, at least one). Default DefaultPollTimeout.
	PollTimeout time.Duration
	// RequestTimeout bounds every other API call. Default
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxAttempts bounds the tries of one API call. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the first wait after a server or network error; it doubles
	// (with jitter) up to MaxBackoff. Defaults DefaultBackoff and
	// DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest flood-control wait (429 retry_after)
	// honoured; a call asked to wait longer fails. Default
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// ShutdownGrace is how long turns in progress may finish after the
	// context of Run ends. Default DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// DeepLinkAfter is the number of turns after which a group
	// conversation is offered a private chat. Default DefaultDeepLinkAfter.
	DeepLinkAfter int
	// Texts are the channel's own words. Empty fields take DefaultTexts.
	Texts Texts
	// HTTPClient makes the API calls (tests point it at a fake server).
	// Default: a new http.Client.
	HTTPClient *http.Client

	// ModChatID, when set, makes the channel a moderators' place
	// (bot.ModPlace): hand-off tickets from every channel are posted to
	// this chat, usually a group (a negative ID such as -1001234567890;
	// a private chat with one moderator works too). Its messages never
	// reach the assistant: they are moderators' commands and replies.
	ModChatID int64
	// ModUserIDs are Telegram user IDs allowed to act on tickets besides
	// the administrators of the moderators' chat.
	ModUserIDs []int64
}

// WebhookConfig switches the channel from long polling to a webhook.
type WebhookConfig struct {
	// PublicURL is the HTTPS URL Telegram posts updates to; its path is
	// the path served on Listen.
	PublicURL string
	// Listen is the local address of the webhook's HTTP server
	// (DefaultWebhookListen when empty); a proxy may sit in between.
	Listen string
	// Secret is sent to Telegram with setWebhook and must come back in the
	// X-Telegram-Bot-Api-Secret-Token header of every update: 1–256 of
	// A–Z a–z 0–9 _ -. Requests without it are rejected.
	Secret string
}

// Texts are what the channel itself says; KB text comes from the engine.
type Texts struct {
	Stale      string // callback answer for a press on a closed question
	NotYours   string // callback answer for a press on someone else's question
	Continue   string // link text offering a private chat
	EmptyReply string // text of a reply that has buttons but no text
	// ModHint answers a moderator who replied to a message of the bot that
	// is not about a ticket the channel knows.
	ModHint string
	// ModNotText answers a moderator who sent a user something that is not
	// text (only text is relayed).
	ModNotText string
}

// DefaultTexts are the English defaults of Texts.
var DefaultTexts = Texts{
	Stale:      "That question is closed.",
	NotYours:   "This question is for someone else. Mention me to start your own.",
	Continue:   "Continue in a private chat with me",
	EmptyReply: "Choose one:",
	ModHint:    "I can't tell which ticket that is for. Reply to the ticket message itself, or write /reply N your text.",
	ModNotText: "Only text reaches the user. Please describe it in words.",
}

// Environment variables read by ConfigFromEnv.
const (
	EnvToken         = "TELEGRAM_BOT_TOKEN"
	EnvAPIURL        = "TELEGRAM_API_URL"
	EnvWebhookURL    = "TELEGRAM_WEBHOOK_URL"
	EnvWebhookListen = "TELEGRAM_WEBHOOK_LISTEN"
	EnvWebhookSecret = "TELEGRAM_WEBHOOK_SECRET"
	EnvModChatID     = "TELEGRAM_MOD_CHAT_ID"
	EnvModUserIDs    = "TELEGRAM_MOD_USER_IDS"
)

// ConfigFromEnv reads the channel's configuration from the environment.
// enabled is false when TELEGRAM_BOT_TOKEN is unset: the channel does not
// run. Webhook mode is on when TELEGRAM_WEBHOOK_URL is set; without
// TELEGRAM_WEBHOOK_SECRET a random secret is made (fine for one instance;
// several instances behind one URL need the same secret set).
// TELEGRAM_MOD_CHAT_ID makes the channel a moderators' place, and
// TELEGRAM_MOD_USER_IDS (comma-separated user IDs) adds moderators to the
// administrators of that chat.
func ConfigFromEnv(getenv func(string) string) (cfg Config, enabled bool, err error) {
	cfg.Token = strings.TrimSpace(getenv(EnvToken))
	cfg.APIURL = strings.TrimSpace(getenv(EnvAPIURL))
	hook := strings.TrimSpace(getenv(EnvWebhookURL))
	listen := strings.TrimSpace(getenv(EnvWebhookListen))
	secret := strings.TrimSpace(getenv(EnvWebhookSecret))
	modChat := strings.TrimSpace(getenv(EnvModChatID))
	modUsers := strings.TrimSpace(getenv(EnvModUserIDs))
	if cfg.Token == "" {
		if hook != "" || cfg.APIURL != "" || modChat != "" || modUsers != "" {
			return Config{}, false, fmt.Errorf("telegram: %s is not set but other TELEGRAM_ variables are", EnvToken)
		}
		return Config{}, false, nil
	}
	if modChat == "" && modUsers != "" {
		return Config{}, false, fmt.Errorf("telegram: %s set without %s", EnvModUserIDs, EnvModChatID)
	}
	if modChat != "" {
		if cfg.ModChatID, err = parseChatID(modChat); err != nil {
			return Config{}, false, fmt.Errorf("telegram: %s: %w", EnvModChatID, err)
		}
		if cfg.ModUserIDs, err = parseUserIDs(modUsers); err != nil {
			return Config{}, false, fmt.Errorf("telegram: %s: %w", EnvModUserIDs, err)
		}
	}
	if hook == "" && (listen != "" || secret != "") {
		return Config{}, false, fmt.Errorf("telegram: %s or %s set without %s", EnvWebhookListen, EnvWebhookSecret, EnvWebhookURL)
	}
	if hook != "" {
		if secret == "" {
			secret = rand.Text()
		}
		cfg.Webhook = &WebhookConfig{PublicURL: hook, Listen: listen, Secret: secret}
	}
	if err := cfg.validate(); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// validate checks the fields that are given; withDefaults fills the rest.
func (c *Config) validate() error {
	switch {
	case c.Token == "":
		return errors.New("telegram: config: no bot token")
	case strings.ContainsAny(c.Token, " \t\r\n/?#%"):
		return errors.New("telegram: config: the bot token has characters a token cannot have")
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("telegram: config: API URL %q is not an http(s) URL", c.APIURL)
		}
	}
	if c.ModChatID == 0 && len(c.ModUserIDs) > 0 {
		return errors.New("telegram: config: moderator user IDs without a moderators' chat")
	}
	for _, id := range c.ModUserIDs {
		if id <= 0 {
			return fmt.Errorf("telegram: config: moderator user ID %d is not a Telegram user ID", id)
		}
	}
	if w := c.Webhook; w != nil {
		u, err := url.Parse(w.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("telegram: config: webhook URL %q is not an http(s) URL", w.PublicURL)
		}
		if !validSecret(w.Secret) {
			return errors.New("telegram: config: the webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
		}
	}
	return nil
}

// parseChatID reads a chat ID: a group's is negative (-1001234567890 for
// a supergroup), a private chat's is the user's ID.
func parseChatID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not a Telegram chat ID (a group's ID is a negative number such as -1001234567890)", s)
	}
	return id, nil
}

// parseUserIDs reads comma-separated user IDs ("12345, 67890"); empty
// items are skipped.
func parseUserIDs(s string) ([]int64, error) {
	var ids []int64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%q is not a Telegram user ID (a positive number; list several with commas)", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func validSecret(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = bot.NopObserver{}
	}
	if c.PollTimeout < time.Second {
		c.PollTimeout = DefaultPollTimeout
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
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.DeepLinkAfter <= 0 {
		c.DeepLinkAfter = DefaultDeepLinkAfter
	}
	orDefault(&c.Texts.Stale, DefaultTexts.Stale)
	orDefault(&c.Texts.NotYours, DefaultTexts.NotYours)
	orDefault(&c.Texts.Continue, DefaultTexts.Continue)
	orDefault(&c.Texts.EmptyReply, DefaultTexts.EmptyReply)
	orDefault(&c.Texts.ModHint, DefaultTexts.ModHint)
	orDefault(&c.Texts.ModNotText, DefaultTexts.ModNotText)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Webhook != nil {
		w := *c.Webhook
		if w.Listen == "" {
			w.Listen = DefaultWebhookListen
		}
		c.Webhook = &w
	}
	return c
}

func orDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// endpoint is the library's API endpoint format ("…/bot%s/%s").
func (c Config) endpoint() string {
	base := strings.TrimRight(c.APIURL, "/")
	return strings.ReplaceAll(base, "%", "%%") + "/bot%s/%s"
}
