package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/internal/keylock"
)

// Channel is the channel name of Discord conversations.
const Channel = "discord"

// Handler runs users' turns and moderators' actions; *bot.Engine
// satisfies it. Register the adapter with the engine (a.Register(engine))
// so that replies the engine sends outside the turn's own (a place in the
// moderators' queue, a moderator's message, redelivery) reach Discord, and
// so that, with Config.ModChannelID, tickets are shown there.
type Handler interface {
	Handle(ctx context.Context, m bot.Message) (bot.Turn, error)
	Moderate(ctx context.Context, a bot.ModAction) (bot.ModReply, error)
}

// intents are the gateway intents asked for. Message content is
// privileged; without it the bot still gets the text of DMs and of
// messages that mention it, and slash commands and buttons work.
const intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages | discordgo.IntentsDirectMessages

// Adapter is the Discord channel. Create it with New, start it with Run.
// It implements bot.Sender.
type Adapter struct {
	cfg    Config
	h      Handler
	ready  atomic.Bool // the gateway connection is up
	log    *slog.Logger
	obs    bot.Observer
	token  string // "Bot …", as discordgo sends it
	secret string // the bare token, scrubbed from logs and errors
	client *http.Client
	rest   api // REST calls; a *discordgo.Session that is never opened

	botID, appID atomic.Pointer[string]
	content      atomic.Bool // ask for the message content intent

	seen    *fifoMap[struct{}] // dispatch IDs handled (replays on resume)
	threads *fifoMap[string]   // thread ID → the user it was opened for ("" unknown)
	// modThreads: thread ID → what it is to the moderators' place
	// (learned from the gateway and Post, or asked; see modPlace).
	modThreads *fifoMap[modKind]
	locks      keylock.Locks[string] // per user: one turn at a time, replies in order

	work       context.Context // turns run in it; cancelled after the shutdown grace
	cancelWork context.CancelFunc

	mu       sync.Mutex
	stopping bool
	turns    sync.WaitGroup
	active   atomic.Int64 // turns in progress (tests wait for quiet)
	dialed   net.Conn     // the gateway connection being opened

	started   atomic.Bool
	reconnect chan struct{} // a gateway connection was lost
}

var (
	_ bot.Sender   = (*Adapter)(nil)
	_ bot.ModPlace = (*Adapter)(nil)
)

// New returns a Discord channel for the handler. It makes no network
// call; Run connects.
func New(cfg Config, h Handler) (*Adapter, error) {
	if h == nil {
		return nil, errors.New("discord: no handler")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	secret := strings.TrimPrefix(cfg.Token, "Bot ")
	client, err := httpClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("discord: %s: %w", EnvAPIURL, err)
	}
	a := &Adapter{
		cfg:        cfg,
		h:          h,
		log:        cfg.Logger,
		obs:        cfg.Observer,
		token:      "Bot " + secret,
		secret:     secret,
		client:     client,
		seen:       newFIFOMap[struct{}](maxSeen),
		threads:    newFIFOMap[string](maxThreads),
		modThreads: newFIFOMap[modKind](maxThreads),
		reconnect:  make(chan struct{}, 1),
	}
	a.content.Store(!cfg.NoMessageContent)
	a.rest = a.session()
	a.work, a.cancelWork = context.WithCancel(context.Background())
	return a, nil
}

// session returns a discordgo session set up the adapter's way: its HTTP
// client, no library retries (Adapter.call bounds them), no library
// logging (it writes to the standard logger; the adapter logs through
// slog), no state cache, and no automatic reconnect (Run reconnects, so
// it can stop doing so).
func (a *Adapter) session() *discordgo.Session {
	s, _ := discordgo.New(a.token) // New makes no call and never fails
	s.Client = a.client
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	s.ShouldReconnectOnError = false
	s.ShouldReconnectVoiceOnSessionError = false
	s.StateEnabled = false
	s.LogLevel = -1
	s.SyncEvents = true
	return s
}

// gateway returns a new session for the websocket gateway. Its handlers
// run on discordgo's reader goroutine (SyncEvents) and only hand work to
// the adapter's own goroutines.
func (a *Adapter) gateway(ctx context.Context) *discordgo.Session {
	s := a.session()
	s.Identify.Intents = intents
	if a.cfg.ShardCount > 0 {
		s.ShardID, s.ShardCount = a.cfg.ShardID, a.cfg.ShardCount
	}
	if a.content.Load() {
		s.Identify.Intents |= discordgo.IntentsMessageContent
	}
	s.Dialer = &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: a.cfg.OpenTimeout,
		NetDialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bound the opening (Hello, Identify, Ready): discordgo reads
			// them without a deadline. open clears it once connected.
			_ = c.SetDeadline(time.Now().Add(a.cfg.OpenTimeout))
			a.mu.Lock()
			a.dialed = c
			a.mu.Unlock()
			return c, nil
		},
	}
	s.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) { a.onEvent(e) })
	s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		a.ready.Store(false)
		select {
		case a.reconnect <- struct{}{}:
		default:
		}
	})
	return s
}

// Ready reports whether the gateway connection is up (for /readyz).
func (a *Adapter) Ready() bool { return a.ready.Load() }

// Run connects to Discord, registers the slash commands and answers
// people until ctx ends; then it closes the gateway connection, lets the
// turns in progress finish (for at most ShutdownGrace) and returns nil.
// A lost connection is reopened and the session resumed. Run returns an
// error when Discord refuses the token or the intents, and cannot be
// called twice. Every goroutine Run starts has ended when it returns
// (discordgo's reader exits as its connection closes, within moments).
func (a *Adapter) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("discord: Run called twice")
	}
	defer a.cancelWork()
	gw, err := a.connect(ctx, nil)
	if err != nil {
		a.shutdown(gw)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.ready.Store(true)
	defer a.ready.Store(false)
	a.registerCommands(ctx)
	if a.cfg.ModChannelID != "" {
		a.checkModChannel(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			a.shutdown(gw)
			return nil
		case <-a.reconnect:
			if ctx.Err() != nil {
				continue
			}
			a.log.Warn("Discord gateway connection lost; resuming")
			a.ready.Store(false)
			if gw, err = a.connect(ctx, gw); err == nil {
				a.ready.Store(true)
			}
			if err != nil {
				a.shutdown(gw)
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// connect opens the gateway connection: a resume of gw's session when gw
// is set, else a new session. It retries with backoff until it succeeds,
// ctx ends, or Discord refuses for good.
func (a *Adapter) connect(ctx context.Context, gw *discordgo.Session) (*discordgo.Session, error) {
	if gw == nil {
		gw = a.gateway(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := a.open(gw)
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			return gw, nil
		}
		if ctx.Err() != nil {
			return gw, ctx.Err()
		}
		a.obs.APIError(Channel, opGateway)
		var ce *websocket.CloseError
		code := 0
		if errors.As(err, &ce) {
			code = ce.Code
		}
		switch {
		case code == 4014 && a.content.Load():
			a.log.Warn("Discord refused the message content intent (enable it in the Developer Portal, Bot tab); going on with slash commands, mentions and DMs only")
			a.content.Store(false)
			gw = a.gateway(ctx)
			continue
		case code == 4004, code >= 4010 && code <= 4014:
			return gw, a.scrub(opGateway, fmt.Errorf("Discord closed the gateway with code %d (%s)", code, ce.Text))
		case httpStatus(err) == http.StatusUnauthorized || httpStatus(err) == http.StatusForbidden:
			return gw, a.scrub(opGateway, fmt.Errorf("the bot token was refused: %w", err))
		case code == 4007 || code == 4009:
			gw = a.gateway(ctx) // the session can't be resumed: identify anew
		}
		wait := a.backoff(attempt)
		a.log.Warn("Discord gateway connection failed; retrying", "attempt", attempt, "wait", wait, "err", a.redact(err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return gw, ctx.Err()
		case <-t.C:
		}
	}
}

// open runs discordgo's Open (which resumes when the session has an ID
// and a sequence) and lifts the opening deadline of the connection.
func (a *Adapter) open(gw *discordgo.Session) error {
	err := gw.Open()
	a.mu.Lock()
	c := a.dialed
	a.dialed = nil
	a.mu.Unlock()
	if c != nil && err == nil {
		_ = c.SetDeadline(time.Time{})
	}
	return err
}

// shutdown stops taking new work, closes the gateway and waits for the
// turns in progress: ShutdownGrace, then their context is cancelled.
func (a *Adapter) shutdown(gw *discordgo.Session) {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	if gw != nil {
		_ = gw.Close()
	}
	done := make(chan struct{})
	go func() {
		a.turns.Wait()
		close(done)
	}()
	t := time.NewTimer(a.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		a.log.Warn("Discord turns still running at shutdown; cancelling them")
		a.cancelWork()
		<-done
	}
	a.log.Info("Discord channel stopped")
}

// onEvent receives every gateway dispatch, on discordgo's reader
// goroutine: it records who the bot is and hands user events to go().
func (a *Adapter) onEvent(e *discordgo.Event) {
	switch ev := e.Struct.(type) {
	case *discordgo.Ready:
		if ev.User != nil {
			id := ev.User.ID
			a.botID.Store(&id)
			app := id
			if ev.Application != nil && ev.Application.ID != "" {
				app = ev.Application.ID
			}
			a.appID.Store(&app)
		}
		a.log.Info("connected to Discord", "bot", a.botUser(), "message_content", a.content.Load())
	case *discordgo.Resumed:
		a.log.Info("Discord gateway session resumed")
	case *discordgo.MessageCreate:
		if ev.Message == nil {
			return
		}
		m := ev.Message
		a.dispatch("m"+m.ID, func(ctx context.Context) { a.onMessage(ctx, m) })
	case *discordgo.InteractionCreate:
		if ev.Interaction == nil {
			return
		}
		i := ev.Interaction
		from := interactionOrigin(e.RawData)
		a.dispatch("i"+i.ID, func(ctx context.Context) { a.onInteraction(ctx, i, from) })
	case *discordgo.ThreadCreate:
		if ev.Channel != nil {
			a.learnThread(ev.Channel)
		}
	case *discordgo.ThreadUpdate:
		if ev.Channel != nil {
			a.learnThread(ev.Channel)
		}
	case *discordgo.GuildCreate:
		if ev.Guild == nil {
			return
		}
		for _, t := range ev.Threads {
			if t != nil {
				a.learnThread(t)
			}
		}
	}
}

// learnThread records a thread: one in the moderators' channel (a
// ticket's, when the bot opened it), or one the bot opened for a user.
func (a *Adapter) learnThread(th *discordgo.Channel) {
	me := a.botUser()
	if a.cfg.ModChannelID != "" && th.ParentID == a.cfg.ModChannelID {
		k := modTalk
		if th.OwnerID != "" && th.OwnerID == me {
			k = modTicket
		}
		a.modThreads.add(th.ID, k)
		return
	}
	if th.OwnerID == "" || th.OwnerID != me {
		return
	}
	if _, ok := a.threads.get(th.ID); !ok {
		a.threads.add(th.ID, "")
	}
}

// origin is what an interaction says about the channel it came from
// (discordgo's Interaction leaves the "channel" object out).
type origin struct {
	thread bool   // the channel is a thread
	parent string // the thread's channel
}

func interactionOrigin(raw json.RawMessage) origin {
	var v struct {
		Channel *struct {
			Type     discordgo.ChannelType `json:"type"`
			ParentID string                `json:"parent_id"`
		} `json:"channel"`
	}
	if json.Unmarshal(raw, &v) != nil || v.Channel == nil {
		return origin{}
	}
	switch v.Channel.Type {
	case discordgo.ChannelTypeGuildPublicThread, discordgo.ChannelTypeGuildPrivateThread, discordgo.ChannelTypeGuildNewsThread:
		return origin{thread: true, parent: v.Channel.ParentID}
	}
	return origin{}
}

// dispatch runs fn for a user event on a goroutine of its own, once per
// event ID: a dispatch seen before (Discord replays events on resume) is
// dropped.
func (a *Adapter) dispatch(id string, fn func(ctx context.Context)) {
	if !a.seen.add(id, struct{}{}) {
		a.log.Debug("Discord dispatch seen before; dropped", "id", id)
		return
	}
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return
	}
	a.turns.Add(1)
	a.active.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.turns.Done()
		defer a.active.Add(-1)
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("Discord event handler panicked", "id", id, "panic", a.redact(fmt.Sprint(p)))
			}
		}()
		fn(a.work)
	}()
}

func (a *Adapter) botUser() string {
	if p := a.botID.Load(); p != nil {
		return *p
	}
	return ""
}

func (a *Adapter) app() string {
	if p := a.appID.Load(); p != nil {
		return *p
	}
	return ""
}

// registerCommands registers the slash commands (see commands), in one
// server when GuildID is set (they show at once) or globally. A failure
// is logged: the bot still answers mentions and DMs.
func (a *Adapter) registerCommands(ctx context.Context) {
	app := a.app()
	if app == "" {
		a.log.Error("slash commands not registered: no application ID from Discord")
		return
	}
	err := a.call(ctx, opCommands, func(opts ...discordgo.RequestOption) error {
		_, err := a.rest.ApplicationCommandBulkOverwrite(app, a.cfg.GuildID, commands(a.cfg.ModChannelID != ""), opts...)
		return err
	})
	if err != nil {
		a.log.Error("slash commands not registered", "guild", a.cfg.GuildID, "err", err)
		return
	}
	where := "globally"
	if a.cfg.GuildID != "" {
		where = "in server " + a.cfg.GuildID
	}
	a.log.Info("slash commands registered " + where)
}

// commands are the slash commands: /troubleshoot [problem], /human, /help
// and /forget, usable in servers and in DMs with the bot, and with mod the
// moderators' /mod (in servers only; see modCommand).
func commands(mod bool) []*discordgo.ApplicationCommand {
	contexts := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild, discordgo.InteractionContextBotDM}
	install := &[]discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
	cmds := []*discordgo.ApplicationCommand{
		{
			Name: flows.CmdTroubleshoot, Description: "Find out why TikTok won't let you send messages",
			Contexts: contexts, IntegrationTypes: install,
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: optProblem,
				Description: "What happens when you try to send a message?", MaxLength: 1000,
			}},
		},
		{Name: flows.CmdHuman, Description: "Ask for a human moderator", Contexts: contexts, IntegrationTypes: install},
		{Name: flows.CmdHelp, Description: "What this assistant does and how to use it", Contexts: contexts, IntegrationTypes: install},
		{Name: flows.CmdForget, Description: "Delete everything I keep about you", Contexts: contexts, IntegrationTypes: install},
	}
	if mod {
		cmds = append(cmds, modCommand())
	}
	return cmds
}

// optProblem is /troubleshoot's option: the problem in the user's words.
const optProblem = "problem"
