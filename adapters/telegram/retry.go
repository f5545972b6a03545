package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/internal/backoff"
)

// ErrBlocked is returned by Send for a chat whose user blocked the bot (or
// that removed it): this process sends nothing more there until the user
// writes again.
var ErrBlocked = errors.New("telegram: the user blocked the bot")

// errNotRunning is returned by Send when Run ended before it connected.
var errNotRunning = errors.New("telegram: the channel is not running")

// apiError returns the Bot API's error in err, or nil.
func apiError(err error) *tgbotapi.Error {
	var e *tgbotapi.Error
	if errors.As(err, &e) {
		return e
	}
	var v tgbotapi.Error
	if errors.As(err, &v) {
		return &v
	}
	return nil
}

// isBlocked reports an error meaning the bot may not write to the chat any
// more: blocked by the user, the user deleted, the bot removed from the
// group.
func isBlocked(err error) bool {
	e := apiError(err)
	return e != nil && e.Code == 403
}

// isNotModified reports an edit that changed nothing (the keyboard was
// already gone): not a failure.
func isNotModified(err error) bool {
	e := apiError(err)
	return e != nil && e.Code == 400 && strings.Contains(e.Message, "message is not modified")
}

// retryPolicy decides whether and how long to wait before retrying a call
// that failed with err on its attempt-th try.
func (a *Adapter) retryPolicy(err error, attempt int) (time.Duration, bool) {
	if e := apiError(err); e != nil {
		switch {
		case e.Code == 429:
			wait := time.Duration(e.RetryAfter) * time.Second
			if wait <= 0 {
				return a.backoff(attempt), true
			}
			return wait, wait <= a.cfg.MaxRetryAfter
		case e.Code >= 500:
			return a.backoff(attempt), true
		default: // 400, 401, 403, 404, 409: retrying will not help
			return 0, false
		}
	}
	// Network errors, timeouts, and answers that are not the API's JSON (a
	// proxy's 502 page): transient.
	return a.backoff(attempt), true
}

// backoff is the wait before retry number attempt (1, 2, …): Backoff
// doubled per attempt, capped at MaxBackoff, with jitter in [d/2, d].
func (a *Adapter) backoff(attempt int) time.Duration {
	return backoff.Delay(a.cfg.Backoff, a.cfg.MaxBackoff, attempt)
}

// call runs one API call with the adapter's retry policy: at most
// MaxAttempts tries, each under RequestTimeout, waiting retry_after on 429
// and backing off on 5xx and network errors. Every failure is counted and
// logged; the returned error is scrubbed of the token.
func (a *Adapter) call(ctx context.Context, op string, fn func(botAPI) error) error {
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		err := a.scrub(fn(a.client(cctx)))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("telegram: %s: %w", op, ctx.Err())
		}
		a.obs.APIError(Channel, op)
		wait, retry := a.retryPolicy(err, attempt)
		if !retry || attempt >= a.cfg.MaxAttempts {
			return fmt.Errorf("telegram: %s: %w", op, err)
		}
		a.obs.Retry(Channel)
		a.log.Warn("telegram call failed, retrying", "op", op, "attempt", attempt, "wait", wait, "err", err)
		if err := a.sleep(ctx, wait); err != nil {
			return fmt.Errorf("telegram: %s: %w", op, err)
		}
	}
}

// scrub removes the bot token from an error. The library puts the token
// in request URLs, and *url.Error prints its URL; the URL is redacted and
// any other error still mentioning the token is replaced by its redacted
// text (context errors stay recognisable with errors.Is).
func (a *Adapter) scrub(err error) error {
	return scrubToken(err, a.cfg.Token)
}

func scrubToken(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), token) && err.Error() == ue.Error() {
		return &url.Error{Op: ue.Op, URL: redact(ue.URL, token), Err: ue.Err}
	}
	return &scrubbed{msg: redact(err.Error(), token), ctx: contextErr(err)}
}

func redact(s, token string) string {
	s = strings.ReplaceAll(s, token, "<token>")
	if esc := url.PathEscape(token); esc != token {
		s = strings.ReplaceAll(s, esc, "<token>")
	}
	return s
}

func contextErr(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// scrubbed is an error whose text had the token removed. It unwraps only
// to a context error, never to the original.
type scrubbed struct {
	msg string
	ctx error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.ctx }
