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
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// channel is one running chat platform.
type channel struct {
	name string
	run  func(ctx context.Context) error
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

// channelTexts returns the KB's words for what channels say themselves.
func telegramTexts(k *kb.KB) telegram.Texts {
	return telegram.Texts{Stale: k.Msg("stale_short"), NotYours: k.Msg("not_yours"),
		Continue: k.Msg("continue_private"), EmptyReply: k.Msg("choose_one")}
}

// serve runs the configured channels until ctx ends. configured reports
// whether any channel is configured (else the caller opens the terminal
// chat).
func serve(ctx context.Context, kbDir string, getenv func(string) string, stderr io.Writer) (configured bool, err error) {
	tcfg, tgOn, err := telegram.ConfigFromEnv(getenv)
	if err != nil {
		return true, err
	}
	dcfg, dcOn, err := discord.ConfigFromEnv(getenv)
	if err != nil {
		return true, err
	}
	if !tgOn && !dcOn {
		return false, nil
	}
	logger, err := newLogger(getenv, stderr)
	if err != nil {
		return true, err
	}
	k, err := brain.LoadKB(kbDir)
	if err != nil {
		return true, err
	}
	m, err := brain.Train(k)
	if err != nil {
		return true, err
	}
	store := memory.New()
	defer store.Close()
	e, err := bot.New(bot.Config{KB: k, Classifier: m, Store: store, Logger: logger})
	if err != nil {
		return true, err
	}
	var channels []channel
	if tgOn {
		tcfg.Logger, tcfg.Texts = logger, telegramTexts(k)
		tg, err := telegram.New(tcfg, e)
		if err != nil {
			return true, err
		}
		e.Register(telegram.Channel, tg)
		channels = append(channels, channel{telegram.Channel, tg.Run})
	}
	if dcOn {
		dcfg.Logger = logger
		dcfg.Texts = discord.Texts{ThreadName: k.Msg("thread_name"), ThreadOpened: k.Msg("thread_opened"),
			NotYours: k.Msg("not_yours"), Failed: k.Msg("failed")}
		dc, err := discord.New(dcfg, e)
		if err != nil {
			return true, err
		}
		e.Register(discord.Channel, dc)
		channels = append(channels, channel{discord.Channel, dc.Run})
	}
	return true, runChannels(ctx, logger, e, channels)
}

// runChannels runs every channel and the engine's timed work until ctx
// ends or a channel fails; then it stops them all and waits for them.
func runChannels(ctx context.Context, logger *slog.Logger, e *bot.Engine, channels []channel) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(channels)+1)
	for _, ch := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logger.Info("channel starting", "channel", ch.name)
			if err := ch.run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", ch.name, err)
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.Run(ctx, 10*time.Second); err != nil {
			errs <- err
		}
	}()
	<-ctx.Done()
	logger.Info("shutting down")
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
