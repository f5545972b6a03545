package discord

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/internal/backoff"
)

// api is the part of *discordgo.Session the adapter calls over REST, so
// unit tests can swap it. Every call goes through discordgo's request
// path and so through its rate limiter (see Adapter.call).
type api interface {
	ChannelMessageSendComplex(channelID string, data *discordgo.MessageSend, options ...discordgo.RequestOption) (*discordgo.Message, error)
	ChannelMessageEditComplex(m *discordgo.MessageEdit, options ...discordgo.RequestOption) (*discordgo.Message, error)
	Channel(channelID string, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	InteractionRespond(i *discordgo.Interaction, r *discordgo.InteractionResponse, options ...discordgo.RequestOption) error
	InteractionResponseEdit(i *discordgo.Interaction, e *discordgo.WebhookEdit, options ...discordgo.RequestOption) (*discordgo.Message, error)
	InteractionResponseDelete(i *discordgo.Interaction, options ...discordgo.RequestOption) error
	FollowupMessageCreate(i *discordgo.Interaction, wait bool, data *discordgo.WebhookParams, options ...discordgo.RequestOption) (*discordgo.Message, error)
	ThreadStartComplex(channelID string, data *discordgo.ThreadStart, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	MessageThreadStartComplex(channelID, messageID string, data *discordgo.ThreadStart, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	ThreadMemberAdd(threadID, memberID string, options ...discordgo.RequestOption) error
	ApplicationCommandBulkOverwrite(appID, guildID string, commands []*discordgo.ApplicationCommand, options ...discordgo.RequestOption) ([]*discordgo.ApplicationCommand, error)
}

var _ api = (*discordgo.Session)(nil)

// REST operation names, as logged and counted by Observer.APIError.
const (
	opSend       = "send_message"
	opAck        = "interaction_ack"
	opEdit       = "interaction_edit"
	opDelete     = "interaction_delete"
	opFollowup   = "followup"
	opThread     = "start_thread"
	opThreadJoin = "add_thread_member"
	opCommands   = "register_commands"
	opTicket     = "post_ticket"
	opTicketEdit = "edit_ticket"
	opModPost    = "post_to_moderators"
	opChannel    = "get_channel"
	opGateway    = "gateway"
	ackDeadline  = 2500 * time.Millisecond // Discord allows 3 s
)

// call runs one REST call with a bound on its tries. discordgo's own
// retries are off (Session.ShouldRetryOnRateLimit false, MaxRestRetries
// 0) because they sleep without a context and, for 429, without a bound;
// discordgo's rate limiter still orders every request and learns the
// buckets from the X-RateLimit headers, including those of a 429. Here a
// 429 waits its retry_after (up to MaxRetryAfter), a 5xx or network error
// backs off exponentially with jitter, and anything else fails at once.
func (a *Adapter) call(ctx context.Context, op string, fn func(opts ...discordgo.RequestOption) error) error {
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		err := fn(discordgo.WithContext(rctx))
		cancel()
		if err == nil {
			return nil
		}
		a.obs.APIError(Channel, op)
		wait, retry := a.retryAfter(err, attempt)
		if ctx.Err() != nil {
			return a.scrub(op, err)
		}
		if !retry || attempt >= a.cfg.MaxAttempts {
			return a.scrub(op, err)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return a.scrub(op, err) // no time left to try again
		}
		a.obs.Retry(Channel)
		a.log.Debug("retrying Discord API call", "op", op, "attempt", attempt, "wait", wait, "err", a.redact(err.Error()))
		if backoff.Sleep(ctx, wait) != nil {
			return a.scrub(op, err)
		}
	}
}

// retryAfter says whether a failed call is worth another try and after
// how long.
func (a *Adapter) retryAfter(err error, attempt int) (time.Duration, bool) {
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
		wait := rl.RetryAfter
		if wait > a.cfg.MaxRetryAfter {
			return 0, false
		}
		return max(wait, 10*time.Millisecond), true
	}
	backoff := a.backoff(attempt)
	var re *discordgo.RESTError
	if errors.As(err, &re) {
		return backoff, re.Response != nil && re.Response.StatusCode >= 500
	}
	// discordgo reports a 502 it would not retry (MaxRestRetries is 0) as
	// a plain error (restapi.go, RequestWithLockedBucket).
	if strings.HasPrefix(err.Error(), "Exceeded Max retries HTTP 5") {
		return backoff, true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return backoff, true // network error or per-request timeout
	}
	return 0, false
}

// backoff is the wait before try attempt+1: Backoff doubled per try, at
// most MaxBackoff, the upper half jittered.
func (a *Adapter) backoff(attempt int) time.Duration {
	return backoff.Delay(a.cfg.Backoff, a.cfg.MaxBackoff, attempt)
}

// apiCode returns the Discord JSON error code of a REST error, or 0.
func apiCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// httpStatus returns the HTTP status of a REST error, or 0.
func httpStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// tokenInURL matches the secret part of interaction and webhook URLs.
var tokenInURL = regexp.MustCompile(`(/(?:webhooks|interactions)/[0-9]+/)[^/?\s"]+`)

// redact removes the bot token and interaction tokens from a text meant
// for a log or an error.
func (a *Adapter) redact(s string) string {
	if a.secret != "" {
		s = strings.ReplaceAll(s, a.secret, "[token]")
	}
	return tokenInURL.ReplaceAllString(s, "${1}[token]")
}

// scrubbedError is an error whose text has had the secrets removed; the
// original stays reachable with errors.As for its status and code.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func (a *Adapter) scrub(op string, err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: "discord: " + op + ": " + a.redact(err.Error()), err: err}
}

// rewrite sends the requests discordgo makes to https://discord.com/api/…
// to another API base (a proxy, or a fake Discord in tests), keeping the
// path after /api. discordgo's endpoint variables are computed once at
// start, so the HTTP client is the place to redirect.
type rewrite struct {
	base http.RoundTripper
	to   *url.URL
}

func (t rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || req.URL.Host != "discord.com" || !strings.HasPrefix(req.URL.Path, "/api/") {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host, u.User = t.to.Scheme, t.to.Host, t.to.User
	u.Path = t.to.Path + strings.TrimPrefix(req.URL.Path, "/api")
	u.RawPath = ""
	r.URL, r.Host = &u, ""
	return t.base.RoundTrip(r)
}

// httpClient is the client discordgo's sessions use: cfg.HTTPClient (or
// a new one) with its transport wrapped to honour APIURL.
func httpClient(cfg Config) (*http.Client, error) {
	c := &http.Client{Timeout: cfg.RequestTimeout}
	if cfg.HTTPClient != nil {
		cc := *cfg.HTTPClient
		c = &cc
		if c.Timeout == 0 {
			c.Timeout = cfg.RequestTimeout
		}
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport
	}
	if cfg.APIURL != "" {
		to, err := apiBase(cfg.APIURL)
		if err != nil {
			return nil, err
		}
		c.Transport = rewrite{base: c.Transport, to: to}
	}
	return c, nil
}
