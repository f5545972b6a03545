package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/discord"
	"github.com/dmdoctor/dmdoctor/adapters/telegram"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/postgres"
	"github.com/dmdoctor/dmdoctor/store/sqlite"
)

// Environment variables of dmdoctor itself (the channels read their own:
// TELEGRAM_* and DISCORD_*).
const (
	envConfig        = "DMDOCTOR_CONFIG"
	envKB            = "DMDOCTOR_KB"
	envDB            = "DMDOCTOR_DB"
	envDatabaseURL   = "DMDOCTOR_DATABASE_URL"
	envHTTPAddr      = "DMDOCTOR_HTTP_ADDR"
	envRetentionDays = "DMDOCTOR_RETENTION_DAYS"
	envClaimTimeout  = "DMDOCTOR_CLAIM_TIMEOUT"
	envExpireAfter   = "DMDOCTOR_EXPIRE_AFTER"
	envRate          = "DMDOCTOR_RATE_LIMIT"
	envMaxConcurrent = "DMDOCTOR_MAX_CONCURRENT"
	envMaxText       = "DMDOCTOR_MAX_TEXT"
)

// defaultDB is the SQLite file used when channels run and no database is
// configured; memoryDB asks for no durability at all.
const (
	defaultDB = "dmdoctor.db"
	memoryDB  = "memory"
)

// config is everything dmdoctor runs with.
type config struct {
	KBDir         string
	DBPath        string // SQLite file, or memoryDB
	DatabaseURL   string // PostgreSQL, when set (wins over DBPath)
	HTTPAddr      string
	Retention     time.Duration
	ClaimTimeout  time.Duration
	ExpireAfter   time.Duration
	RateMessages  int
	RateWindow    time.Duration
	MaxConcurrent int
	MaxText       int

	Telegram   telegram.Config
	TelegramOn bool
	Discord    discord.Config
	DiscordOn  bool
}

// flagValues are the settings that may also be given as flags.
type flagValues struct {
	kb, db, http, file string
}

// addFlags adds the shared settings flags to a flag set.
func addFlags(fs *flag.FlagSet, v *flagValues) {
	fs.StringVar(&v.kb, "kb", "", "load the knowledge base from `DIR` instead of the embedded one (env DMDOCTOR_KB)")
	fs.StringVar(&v.db, "db", "", "SQLite database `FILE`, or \"memory\" (env DMDOCTOR_DB; default ./dmdoctor.db when channels run)")
	fs.StringVar(&v.http, "http", "", "serve /healthz, /readyz and /metrics on `ADDR` (env DMDOCTOR_HTTP_ADDR; off by default)")
	fs.StringVar(&v.file, "config", "", "read settings from `FILE` of KEY=VALUE lines; the environment wins (env DMDOCTOR_CONFIG)")
}

// loadConfig reads the configuration: flags win over the environment,
// which wins over the config file. Every problem found is returned, each
// naming the setting; secrets never appear in them.
func loadConfig(fv flagValues, getenv func(string) string) (config, error) {
	var errs []error
	file := fv.file
	if file == "" {
		file = getenv(envConfig)
	}
	env := getenv
	if file != "" {
		vals, err := readConfigFile(file)
		if err != nil {
			return config{}, err
		}
		env = func(k string) string {
			if v := getenv(k); v != "" {
				return v
			}
			return vals[k]
		}
	}
	pick := func(flagVal, key string) string {
		if flagVal != "" {
			return flagVal
		}
		return env(key)
	}
	c := config{
		KBDir:       pick(fv.kb, envKB),
		DBPath:      pick(fv.db, envDB),
		DatabaseURL: env(envDatabaseURL),
		HTTPAddr:    pick(fv.http, envHTTPAddr),
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, fmt.Errorf("%s: want a postgres:// URL", envDatabaseURL))
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port (for example 127.0.0.1:8080)", envHTTPAddr, c.HTTPAddr))
		}
	}
	days, err := intSetting(env, envRetentionDays, 30, 1)
	errs = append(errs, err)
	c.Retention = time.Duration(days) * 24 * time.Hour
	c.ClaimTimeout, err = durationSetting(env, envClaimTimeout, bot.DefaultClaimTimeout)
	errs = append(errs, err)
	c.ExpireAfter, err = durationSetting(env, envExpireAfter, bot.DefaultExpireAfter)
	errs = append(errs, err)
	c.RateMessages, c.RateWindow, err = rateSetting(env(envRate))
	errs = append(errs, err)
	c.MaxConcurrent, err = intSetting(env, envMaxConcurrent, bot.DefaultMaxConcurrent, 1)
	errs = append(errs, err)
	c.MaxText, err = intSetting(env, envMaxText, bot.DefaultMaxText, 1)
	errs = append(errs, err)

	c.Telegram, c.TelegramOn, err = telegram.ConfigFromEnv(env)
	errs = append(errs, err)
	c.Discord, c.DiscordOn, err = discord.ConfigFromEnv(env)
	errs = append(errs, err)
	return c, errors.Join(errs...)
}

func intSetting(env func(string) string, key string, def, min int) (int, error) {
	s := env(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		return def, fmt.Errorf("%s: %q is not a whole number of at least %d", key, s, min)
	}
	return n, nil
}

func durationSetting(env func(string) string, key string, def time.Duration) (time.Duration, error) {
	s := env(key)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return def, fmt.Errorf("%s: %q is not a duration such as 15m or 2h", key, s)
	}
	return d, nil
}

// rateSetting reads "N/DURATION" (for example 10/10s); "off" turns the
// limit off.
func rateSetting(s string) (int, time.Duration, error) {
	if s == "" {
		return bot.DefaultRateMessages, bot.DefaultRateWindow, nil
	}
	if s == "off" {
		return -1, bot.DefaultRateWindow, nil
	}
	n, w, ok := strings.Cut(s, "/")
	count, err1 := strconv.Atoi(n)
	window, err2 := time.ParseDuration(w)
	if !ok || err1 != nil || err2 != nil || count < 1 || window <= 0 {
		return bot.DefaultRateMessages, bot.DefaultRateWindow, fmt.Errorf("%s: %q is not N/DURATION such as 10/10s, or off", envRate, s)
	}
	return count, window, nil
}

// readConfigFile reads KEY=VALUE lines; blank lines and # comments are
// skipped, values may be quoted.
func readConfigFile(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("config file %s:%d: want KEY=VALUE", name, n)
		}
		v = strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", name, err)
	}
	return vals, nil
}

// channelsOn reports whether any chat channel is configured.
func (c config) channelsOn() bool { return c.TelegramOn || c.DiscordOn }

// storeDesc says which store the configuration uses, without secrets.
func (c config) storeDesc(durableDefault bool) string {
	switch {
	case c.DatabaseURL != "":
		return "PostgreSQL at " + redactURL(c.DatabaseURL)
	case c.DBPath == memoryDB || (c.DBPath == "" && !durableDefault):
		return "memory (nothing survives a restart)"
	case c.DBPath == "":
		return "SQLite file " + defaultDB
	}
	return "SQLite file " + c.DBPath
}

// redactURL drops the password from a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery = ""
	return u.String()
}

// openStore opens the configured store. durableDefault picks SQLite when
// nothing is configured (channels), else memory (the terminal chat).
func openStore(ctx context.Context, c config, durableDefault bool) (bot.Store, error) {
	switch {
	case c.DatabaseURL != "":
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, c.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", redactURL(c.DatabaseURL), scrub(err, c.DatabaseURL))
		}
		return s, nil
	case c.DBPath == memoryDB || (c.DBPath == "" && !durableDefault):
		return memory.New(), nil
	}
	path := c.DBPath
	if path == "" {
		path = defaultDB
	}
	return sqlite.Open(ctx, path)
}

// scrub removes a secret-bearing string (and its password) from an error.
func scrub(err error, secret string) error {
	msg := err.Error()
	if u, perr := url.Parse(secret); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	msg = strings.ReplaceAll(msg, secret, redactURL(secret))
	return errors.New(msg)
}

// checkConfig is `dmdoctor config check`: it says what would run and what
// is missing or wrong, without connecting to any chat platform. It does
// try the database.
func checkConfig(ctx context.Context, fv flagValues, getenv func(string) string, w io.Writer) error {
	c, err := loadConfig(fv, getenv)
	problems := 0
	if err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(w, "problem: %s\n", e)
			problems++
		}
	}
	kbDesc := "embedded knowledge base"
	if c.KBDir != "" {
		kbDesc = c.KBDir
	}
	if k, err := brain.LoadKB(c.KBDir); err != nil {
		fmt.Fprintf(w, "problem: knowledge base %s:\n%s\n", kbDesc, err)
		problems++
	} else {
		fmt.Fprintf(w, "knowledge base: %s (%d causes, %d training examples)\n", kbDesc, len(k.Causes), len(k.Training))
	}
	switch {
	case !c.channelsOn():
		fmt.Fprintln(w, "channels: none configured (TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN): dmdoctor opens the terminal chat")
	default:
		if c.TelegramOn {
			mode := "long polling"
			if c.Telegram.Webhook != nil {
				mode = "webhook on " + c.Telegram.Webhook.Listen
			}
			fmt.Fprintf(w, "channel: Telegram (%s)\n", mode)
		}
		if c.DiscordOn {
			where := "commands registered globally"
			if c.Discord.GuildID != "" {
				where = "commands registered in server " + c.Discord.GuildID
			}
			fmt.Fprintf(w, "channel: Discord (%s)\n", where)
		}
	}
	fmt.Fprintf(w, "store: %s\n", c.storeDesc(c.channelsOn()))
	if c.DatabaseURL != "" {
		s, serr := openStore(ctx, c, true)
		if serr != nil {
			fmt.Fprintf(w, "problem: %s\n", serr)
			problems++
		} else {
			s.Close()
			fmt.Fprintln(w, "store: reachable")
		}
	}
	if c.HTTPAddr != "" {
		fmt.Fprintf(w, "operations: /healthz, /readyz and /metrics on %s\n", c.HTTPAddr)
	} else {
		fmt.Fprintln(w, "operations: off (set DMDOCTOR_HTTP_ADDR to serve /healthz, /readyz and /metrics)")
	}
	fmt.Fprintf(w, "retention: %d days; claim timeout %s; conversations expire after %s idle\n",
		int(c.Retention.Hours()/24), c.ClaimTimeout, c.ExpireAfter)
	if problems > 0 {
		return fmt.Errorf("config check: %d problem(s)", problems)
	}
	fmt.Fprintln(w, "config check: ok")
	return nil
}
