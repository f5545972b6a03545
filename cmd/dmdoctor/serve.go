package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/discord"
	"github.com/dmdoctor/dmdoctor/adapters/telegram"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/ops"
)

// shutdownLimit is how long a shutdown may take before dmdoctor gives up
// waiting.
const shutdownLimit = 10 * time.Second

// channel is one running part: a chat platform, the operations server…
type channel struct {
	name  string
	run   func(ctx context.Context) error
	ready func() bool // for /readyz; nil: not a connection
}

// newLogger builds the slog logger from DMDOCTOR_LOG_FORMAT (text or json)
// and DMDOCTOR_LOG_LEVEL (debug, info, warn, error).
func newLogger(getenv func(string) string, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if s := getenv("DMDOCTOR_LOG_LEVEL"); s != "" {
		if err := level.UnmarshalText([]byte(s)); err != nil {
			return nil, fmt.Errorf("DMDOCTOR_LOG_LEVEL: %q is not debug, info, warn or error", s)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := strings.ToLower(getenv("DMDOCTOR_LOG_FORMAT")); f {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("DMDOCTOR_LOG_FORMAT: %q is not text or json", f)
	}
}

// assistant is the engine and what it runs on.
type assistant struct {
	kb      *kb.KB
	engine  *bot.Engine
	store   bot.Store
	metrics *ops.Metrics
}

// build loads the KB, trains the classifier, opens the store and builds
// the engine with its metrics. durable picks SQLite when no store is
// configured (else memory).
func build(ctx context.Context, c config, logger *slog.Logger, durable bool) (*assistant, error) {
	k, m, err := brain.Start(c.KBDir)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, c, durable)
	if err != nil {
		return nil, err
	}
	metrics := ops.NewMetrics(func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ts, err := store.ListTickets(ctx, bot.TicketPending, bot.TicketClaimed)
		if err != nil {
			return -1
		}
		return float64(len(ts))
	})
	e, err := bot.New(bot.Config{
		KB: k, Classifier: m, Store: store, Logger: logger, Hooks: metrics.Hooks(),
		ClaimTimeout: c.ClaimTimeout, ExpireAfter: c.ExpireAfter, MaxText: c.MaxText,
		RateMessages: c.RateMessages, RateWindow: c.RateWindow, MaxConcurrent: c.MaxConcurrent,
		Shared: c.DatabaseURL != "",
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &assistant{kb: k, engine: e, store: store, metrics: metrics}, nil
}

// serve runs the configured channels until ctx ends.
func serve(ctx context.Context, c config, getenv func(string) string, stderr io.Writer) error {
	logger, err := newLogger(getenv, stderr)
	if err != nil {
		return err
	}
	a, err := build(ctx, c, logger, true)
	if err != nil {
		return err
	}
	defer a.store.Close()
	logger.Info("dmdoctor starting", "store", c.storeDesc(true))
	e, k := a.engine, a.kb
	var channels []channel
	if c.TelegramOn {
		tcfg := c.Telegram
		tcfg.Logger, tcfg.Observer = logger, a.metrics
		tcfg.Texts = telegram.Texts{Stale: k.Msg("stale_short"), NotYours: k.Msg("not_yours"),
			Continue: k.Msg("continue_private"), EmptyReply: k.Msg("choose_one"),
			ModHint: k.Msg("mod_hint"), ModNotText: k.Msg("mod_not_text")}
		tg, err := telegram.New(tcfg, e)
		if err != nil {
			return err
		}
		tg.Register(e) // the Sender, and the moderators' place when TELEGRAM_MOD_CHAT_ID is set
		channels = append(channels, channel{telegram.Channel, tg.Run, tg.Ready})
	}
	if c.DiscordOn {
		dcfg := c.Discord
		dcfg.Logger, dcfg.Observer = logger, a.metrics
		dcfg.Texts = discord.Texts{ThreadName: k.Msg("thread_name"), ThreadOpened: k.Msg("thread_opened"),
			NotYours: k.Msg("not_yours"), Failed: k.Msg("failed"),
			TicketThread: k.Msg("mod_ticket_thread"), ModSent: k.Msg("mod_sent"), ModNotText: k.Msg("mod_not_text")}
		dc, err := discord.New(dcfg, e)
		if err != nil {
			return err
		}
		dc.Register(e) // the Sender, and the moderators' place when DISCORD_MOD_CHANNEL_ID is set
		channels = append(channels, channel{discord.Channel, dc.Run, dc.Ready})
	}
	if c.HTTPAddr != "" {
		srv, err := ops.NewServer(c.HTTPAddr, a.metrics)
		if err != nil {
			return fmt.Errorf("operations server: %w", err)
		}
		srv.AddCheck("store", func(ctx context.Context) error {
			_, err := a.store.Get(ctx, bot.Key{Channel: "_readyz", User: "_readyz"})
			if errors.Is(err, bot.ErrNotFound) {
				return nil
			}
			return err
		})
		for _, ch := range channels {
			if ch.ready != nil {
				srv.AddCheck(ch.name, func(context.Context) error {
					if !ch.ready() {
						return errors.New("not connected")
					}
					return nil
				})
			}
		}
		logger.Info("operations server listening", "addr", srv.Addr())
		channels = append(channels, channel{"operations server", srv.Run, nil})
	}
	channels = append(channels, channel{"retention", func(ctx context.Context) error {
		return purgeLoop(ctx, a.store, c.Retention, logger)
	}, nil})
	// Alone on its database (SQLite, memory), this process may send at once
	// what a crashed run stored but did not send; on PostgreSQL other
	// instances may be sending, so their leases are respected.
	return runChannels(ctx, logger, e, channels, c.DatabaseURL == "")
}

// purgeLoop deletes transcripts and ended conversations older than the
// retention period, now and every hour.
func purgeLoop(ctx context.Context, s bot.Store, retention time.Duration, logger *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := s.Purge(ctx, time.Now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			logger.Error("retention purge failed", "err", err)
		} else if n > 0 {
			logger.Info("retention purge", "conversations_deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runChannels runs every channel and the engine's timed work until ctx
// ends or one fails; then it stops them all and waits for them, at most
// shutdownLimit.
func runChannels(ctx context.Context, logger *slog.Logger, e *bot.Engine, channels []channel, alone bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(channels)+1)
	for _, ch := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logger.Info("starting", "part", ch.name)
			if err := ch.run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", ch.name, err)
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		redeliver := e.Redeliver
		if alone {
			redeliver = e.TakeOverOutbox
		}
		if err := redeliver(ctx); err != nil && ctx.Err() == nil {
			logger.Error("redelivery at start failed", "err", err)
		}
		if err := e.Run(ctx, 10*time.Second); err != nil {
			errs <- err
		}
	}()
	<-ctx.Done()
	logger.Info("shutting down: finishing turns in progress")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownLimit):
		return fmt.Errorf("shutdown took longer than %s; exiting anyway", shutdownLimit)
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	logger.Info("stopped")
	return errors.Join(all...)
}
