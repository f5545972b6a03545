package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/adapters/internal/fifo"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/internal/backoff"
)

// Channel is the channel name of Telegram conversations.
const Channel = "telegram"

// Handler runs users' turns and moderators' actions; *bot.Engine
// satisfies it. The adapter expects the engine to deliver the turn's
// replies through the adapter's Send (register the adapter with
// a.Register(engine), or Engine.Register(telegram.Channel, a)).
type Handler interface {
	Handle(ctx context.Context, m bot.Message) (bot.Turn, error)
	Moderate(ctx context.Context, a bot.ModAction) (bot.ModReply, error)
}

// botAPI is the part of *tgbotapi.BotAPI the adapter uses.
type botAPI interface {
	GetMe() (tgbotapi.User, error)
	Request(c tgbotapi.Chattable) (*tgbotapi.APIResponse, error)
	MakeRequest(endpoint string, params tgbotapi.Params) (*tgbotapi.APIResponse, error)
}

// commands are registered with setMyCommands when the channel starts.
var commands = []tgbotapi.BotCommand{
	{Command: flows.CmdTroubleshoot, Description: "Find out why TikTok won't send your messages"},
	{Command: flows.CmdHelp, Description: "What I can do"},
	{Command: flows.CmdHuman, Description: "Talk to a person"},
	{Command: flows.CmdCancel, Description: "Stop and start over"},
	{Command: flows.CmdStart, Description: "Start a new conversation"},
	{Command: flows.CmdForget, Description: "Delete everything I keep about you"},
}

// allowedUpdates are the update kinds the channel asks Telegram for.
var allowedUpdates = []string{
	tgbotapi.UpdateTypeMessage, tgbotapi.UpdateTypeEditedMessage,
	tgbotapi.UpdateTypeCallbackQuery, tgbotapi.UpdateTypeMyChatMember,
}

// Limits of the adapter.
const (
	maxInFlight   = 256     // updates received and not yet handled (polling)
	maxWebhookReq = 1 << 20 // bytes of one webhook request
	maxTracked    = 100_000 // entries of the per-chat and per-user maps
	seenUpdates   = 4096    // update IDs remembered to drop redeliveries
)

// Adapter is the Telegram channel: it receives updates (long polling or a
// webhook), turns them into bot messages for the Handler, and implements
// bot.Sender to deliver replies.
type Adapter struct {
	cfg   Config
	h     Handler
	log   *slog.Logger
	obs   bot.Observer
	api   *tgbotapi.BotAPI // a template: each call uses a copy bound to its context
	sleep func(context.Context, time.Duration) error

	running atomic.Bool
	ready   atomic.Bool   // updates flow and Run has not returned
	self    tgbotapi.User // set by Run before any update is handled
	started chan struct{} // closed when updates start flowing
	once    sync.Once

	mu        sync.Mutex
	listen    string                     // the webhook server's address, once listening
	seen      *fifo.Map[int, struct{}]   // update IDs handled
	offered   *fifo.Map[int64, struct{}] // users offered a private chat
	blocked   map[int64]bool             // chats whose user blocked the bot
	moved     map[int64]int64            // groups that became supergroups
	keyboards map[int64]keyboardRef      // user → the message with their live keyboard

	mod *modState // the moderators' chat, nil when none is configured
}

// keyboardRef is a sent message that carries an inline keyboard.
type keyboardRef struct {
	chat int64
	msg  int
}

// New returns the Telegram channel for cfg, handing turns to h. It checks
// the configuration and contacts nobody; Run connects. Register the
// adapter as the channel's Sender: engine.Register(telegram.Channel, a).
func New(cfg Config, h Handler) (*Adapter, error) {
	if h == nil {
		return nil, errors.New("telegram: no handler")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	api := &tgbotapi.BotAPI{Token: cfg.Token, Client: cfg.HTTPClient, Buffer: 100}
	api.SetAPIEndpoint(cfg.endpoint())
	return &Adapter{
		cfg:       cfg,
		h:         h,
		log:       cfg.Logger.With("channel", Channel),
		obs:       cfg.Observer,
		api:       api,
		sleep:     backoff.Sleep,
		started:   make(chan struct{}),
		seen:      fifo.New[int, struct{}](seenUpdates),
		offered:   fifo.New[int64, struct{}](maxTracked),
		blocked:   map[int64]bool{},
		moved:     map[int64]int64{},
		keyboards: map[int64]keyboardRef{},
		mod:       newModState(cfg),
	}, nil
}

// client returns the library bound to ctx: every request it makes carries
// ctx, so cancelling ctx aborts it (an open long poll included).
func (a *Adapter) client(ctx context.Context) botAPI {
	b := *a.api
	b.Client = ctxClient{ctx: ctx, c: a.cfg.HTTPClient}
	return &b
}

// ctxClient attaches a context to every request of the library, whose
// calls take none.
type ctxClient struct {
	ctx context.Context
	c   *http.Client
}

func (c ctxClient) Do(r *http.Request) (*http.Response, error) { return c.c.Do(r.WithContext(c.ctx)) }

// Run connects to Telegram (getMe, setMyCommands), then receives updates
// by long polling, or by webhook when Config.Webhook is set, until ctx
// ends. Turns in progress then get Config.ShutdownGrace to finish, and
// every goroutine Run started has ended when it returns. It returns nil
// on a clean shutdown and an error when the channel cannot run (the
// token was rejected, the webhook address is taken…). Run may be called
// once.
func (a *Adapter) Run(ctx context.Context) error {
	defer a.ready.Store(false)
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("telegram: Run called twice")
	}
	err := a.call(ctx, "getMe", func(api botAPI) error {
		u, err := api.GetMe()
		a.self = u
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("telegram: connecting: %w", err)
	}
	a.log.Info("telegram bot connected", "bot", a.self.UserName, "webhook", a.cfg.Webhook != nil)
	if !a.self.CanReadAllGroupMessages {
		a.log.Info("telegram group privacy mode is on: in groups the bot sees commands, mentions and replies to it")
	}
	err = a.call(ctx, "setMyCommands", func(api botAPI) error {
		_, err := api.Request(tgbotapi.NewSetMyCommands(commands...))
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("telegram commands not registered", "err", err)
	}
	if a.mod != nil {
		a.startModerating(ctx)
	}
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	if a.cfg.Webhook != nil {
		return a.serveWebhook(ctx, work, cancelWork)
	}
	return a.poll(ctx, work, cancelWork)
}

// markStarted records that updates flow (tests wait for it).
func (a *Adapter) markStarted(listen string) {
	a.mu.Lock()
	a.listen = listen
	a.mu.Unlock()
	a.once.Do(func() { close(a.started) })
	a.ready.Store(true)
}

// Ready reports whether the channel is connected: updates flow (the first
// getUpdates answered, or the webhook is registered and listening) and
// Run has not returned. /readyz uses it.
func (a *Adapter) Ready() bool { return a.ready.Load() }

// poll receives updates by long polling until ctx ends. Updates are
// handled on per-user queues (one user's in order, users in parallel) with
// the work context, which outlives ctx by the shutdown grace.
func (a *Adapter) poll(ctx, work context.Context, cancelWork func()) error {
	q := newQueues(maxInFlight)
	defer func() {
		t := time.AfterFunc(a.cfg.ShutdownGrace, cancelWork)
		q.wait()
		t.Stop()
	}()
	// A webhook left set would make getUpdates fail with 409.
	err := a.call(ctx, "deleteWebhook", func(api botAPI) error {
		_, err := api.Request(tgbotapi.DeleteWebhookConfig{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.log.Warn("telegram webhook not deleted", "err", err)
	}
	a.markStarted("")
	offset, failures := 0, 0
	for ctx.Err() == nil {
		updates, err := a.getUpdates(ctx, offset)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			a.obs.APIError(Channel, "getUpdates")
			if e := apiError(err); e != nil && (e.Code == 401 || e.Code == 404) {
				return fmt.Errorf("telegram: getUpdates: the token was rejected: %w", err)
			}
			failures++
			wait, ok := a.retryPolicy(err, failures)
			if !ok || wait <= 0 { // 409 (another poller, a webhook) and the like
				wait = a.backoff(failures)
			}
			wait = min(wait, a.cfg.MaxRetryAfter)
			a.log.Warn("telegram getUpdates failed", "failures", failures, "wait", wait, "err", err)
			if a.sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		failures = 0
		for _, u := range updates {
			if u.UpdateID < offset {
				a.log.Debug("telegram update delivered again, skipped", "update", u.UpdateID)
				continue
			}
			offset = u.UpdateID + 1
			if !q.add(ctx, u.user(), func() { a.handle(work, u) }) {
				break
			}
		}
	}
	return nil
}

// getUpdates makes one long poll from offset.
func (a *Adapter) getUpdates(ctx context.Context, offset int) ([]update, error) {
	secs := int(a.cfg.PollTimeout / time.Second)
	cctx, cancel := context.WithTimeout(ctx, a.cfg.PollTimeout+a.cfg.RequestTimeout)
	defer cancel()
	resp, err := a.client(cctx).Request(tgbotapi.UpdateConfig{Offset: offset, Timeout: secs, AllowedUpdates: allowedUpdates})
	if err != nil {
		return nil, a.scrub(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(resp.Result, &raws); err != nil {
		return nil, fmt.Errorf("decoding updates: %w", err)
	}
	updates := make([]update, 0, len(raws))
	for _, raw := range raws {
		u, err := parseUpdate(raw)
		if err != nil {
			a.log.Warn("telegram update not understood, skipped", "update", u.UpdateID, "err", err)
			if u.UpdateID == 0 {
				continue
			}
			u = update{Update: tgbotapi.Update{UpdateID: u.UpdateID}} // still moves the offset
		}
		updates = append(updates, u)
	}
	return updates, nil
}

// serveWebhook receives updates on an HTTP server until ctx ends. It
// listens first, then registers the webhook with its secret.
func (a *Adapter) serveWebhook(ctx, work context.Context, cancelWork func()) error {
	w := a.cfg.Webhook
	u, _ := url.Parse(w.PublicURL) // validated by New
	path := u.Path
	if path == "" {
		path = "/"
	}
	ln, err := net.Listen("tcp", w.Listen)
	if err != nil {
		return fmt.Errorf("telegram: webhook: %w", err)
	}
	var inflight sync.WaitGroup
	srv := &http.Server{
		Handler:           a.webhookHandler(path, work, &inflight),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		cancelWork()
		inflight.Wait()
		<-served
	}

	params := tgbotapi.Params{"url": w.PublicURL, "secret_token": w.Secret}
	if err := params.AddInterface("allowed_updates", allowedUpdates); err != nil {
		stop()
		return fmt.Errorf("telegram: webhook: %w", err)
	}
	err = a.call(ctx, "setWebhook", func(api botAPI) error {
		_, err := api.MakeRequest("setWebhook", params)
		return err
	})
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("telegram: registering the webhook: %w", err)
	}
	a.log.Info("telegram webhook registered", "listen", ln.Addr().String(), "path", path)
	a.markStarted(ln.Addr().String())
	select {
	case <-ctx.Done():
		stop()
		return nil
	case err := <-served:
		served <- err
		stop()
		return fmt.Errorf("telegram: webhook server: %w", err)
	}
}

// webhookHandler accepts Telegram's POSTs carrying the right secret and
// handles each update before answering, so that Telegram redelivers an
// update whose handling failed halfway (the engine drops repeats).
func (a *Adapter) webhookHandler(path string, work context.Context, inflight *sync.WaitGroup) http.Handler {
	want := []byte(a.cfg.Webhook.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			a.log.Warn("telegram webhook request with a wrong secret rejected", "remote", r.RemoteAddr)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookReq))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		u, err := parseUpdate(raw)
		if err != nil {
			a.log.Warn("telegram webhook update not understood", "update", u.UpdateID, "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if work.Err() != nil {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		inflight.Add(1)
		defer inflight.Done()
		a.handle(work, u)
		w.WriteHeader(http.StatusOK)
	})
}

// queues runs work per key in order, keys in parallel, with at most limit
// items queued or running.
type queues struct {
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	m   map[int64][]func()
}

func newQueues(limit int) *queues {
	return &queues{sem: make(chan struct{}, limit), m: map[int64][]func(){}}
}

// add queues f behind key's earlier work; false when ctx ended first.
func (q *queues) add(ctx context.Context, key int64, f func()) bool {
	select {
	case q.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	q.mu.Lock()
	pending, busy := q.m[key]
	q.m[key] = append(pending, f)
	if !busy {
		q.wg.Add(1)
		go q.drain(key)
	}
	q.mu.Unlock()
	return true
}

func (q *queues) drain(key int64) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		pending := q.m[key]
		if len(pending) == 0 {
			delete(q.m, key)
			q.mu.Unlock()
			return
		}
		f := pending[0]
		pending[0] = nil
		q.m[key] = pending[1:]
		q.mu.Unlock()
		f()
		<-q.sem
	}
}

func (q *queues) wait() { q.wg.Wait() }
