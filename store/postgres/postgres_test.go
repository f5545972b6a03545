package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/store/postgres/pgtest"

	"github.com/dmdoctor/dmdoctor/store/internal/migrations"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/store/storetest"
)

func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bot.Store {
		return open(t, pgtest.DSN(t))
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)

	// Instances starting together migrate once.
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
	}
	s := stores[0]
	for _, o := range stores[1:] {
		o.Close()
	}
	scripts, err := migrations.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	version := func() int {
		t.Helper()
		var v, rows int
		if err := s.pool.QueryRow(ctx, `SELECT max(version), count(*) FROM schema_version`).Scan(&v, &rows); err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Fatalf("schema_version has %d rows", rows)
		}
		return v
	}
	if v := version(); v != len(scripts) {
		t.Fatalf("schema version %d, want %d", v, len(scripts))
	}
	k := bot.Key{Channel: "console", User: "u"}
	if _, err := s.Turn(ctx, k, "kept", func(*bot.Conversation) (bot.Change, error) { return bot.Change{}, nil }); err != nil {
		t.Fatal(err)
	}

	// A next migration runs once and keeps the data.
	next := append(scripts, `CREATE TABLE extra (x integer); INSERT INTO extra SELECT count(*) FROM handled;`)
	for range 2 {
		if err := migrateWith(ctx, s.pool, next); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	var sum int
	if err := s.pool.QueryRow(ctx, `SELECT sum(x) FROM extra`).Scan(&sum); err != nil || sum != 1 {
		t.Errorf("next migration ran with sum %d, %v; want once with 1", sum, err)
	}
	// A failing one changes nothing.
	bad := append(next, `CREATE TABLE half (x integer); SELECT * FROM no_such_table;`)
	if err := migrateWith(ctx, s.pool, bad); err == nil {
		t.Error("failing migration: no error")
	}
	if v := version(); v != len(next) {
		t.Errorf("schema version %d, want %d", v, len(next))
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('half') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("failed migration left a table: %v %v", exists, err)
	}

	// This binary refuses the newer schema.
	_, err = Open(ctx, dsn)
	want := fmt.Sprintf("database schema version %d is newer than this dmdoctor (knows up to %d): upgrade dmdoctor", len(next), len(scripts))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer schema: error %v, want %q", err, want)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE schema_version SET version = $1`, len(scripts)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopened, the data is there.
	s = open(t, dsn)
	defer s.Close()
	if _, err := s.Turn(ctx, k, "kept", nil); !errors.Is(err, bot.ErrDuplicate) {
		t.Errorf("handled message after reopen: error %v, want ErrDuplicate", err)
	}
	if c, err := s.Get(ctx, k); err != nil || c.Version != 1 {
		t.Errorf("Get after reopen = %+v, %v", c, err)
	}
}

// TestTwoInstances feeds the same messages to two stores (two pools, as
// two dmdoctor instances would have) at once.
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	instances := []*Store{a, b}

	const users, perUser = 20, 10
	type msg struct {
		key bot.Key
		id  string
	}
	var msgs []msg
	for i := range users * perUser {
		msgs = append(msgs, msg{bot.Key{Channel: "telegram", User: fmt.Sprint("u", i%users)}, fmt.Sprint("m", i)})
	}
	var mu sync.Mutex
	handled := map[string]int{}
	dups := 0
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(msgs))
	for _, s := range instances {
		work := make(chan msg)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range work {
					_, err := s.Turn(ctx, m.key, m.id, func(c *bot.Conversation) (bot.Change, error) {
						c.State.Turns++
						c.Updated = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
						return bot.Change{
							Transcript: []bot.Line{{From: bot.FromUser, Text: m.id, Time: c.Updated}},
							Outbox:     []bot.Outgoing{{Replies: []flows.Reply{{Text: m.id}}, Created: c.Updated}},
						}, nil
					})
					mu.Lock()
					switch {
					case err == nil:
						handled[m.id]++
					case errors.Is(err, bot.ErrDuplicate):
						dups++
					default:
						errs <- err
					}
					mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(work)
			for _, m := range msgs {
				work <- m
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Turn: %v", err)
	}
	for _, m := range msgs {
		if handled[m.id] != 1 {
			t.Errorf("message %s handled %d times, want once", m.id, handled[m.id])
		}
	}
	if dups != len(msgs) {
		t.Errorf("%d duplicates, want %d", dups, len(msgs))
	}
	for u := range users {
		k := bot.Key{Channel: "telegram", User: fmt.Sprint("u", u)}
		c, err := b.Get(ctx, k)
		if err != nil || c.Version != perUser || c.State.Turns != perUser {
			t.Errorf("%s: %+v, %v; want Version and counter %d", k, c, err, perUser)
		}
		if tr, err := a.Transcript(ctx, k); err != nil || len(tr) != perUser {
			t.Errorf("%s: transcript of %d lines, %v; want %d", k, len(tr), err, perUser)
		}
	}

	// Turns without a message ID on one conversation from both at once:
	// none is lost.
	shared := bot.Key{Channel: "telegram", User: "shared"}
	errs = make(chan error, 40)
	for _, s := range instances {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if _, err := s.Turn(ctx, shared, "", func(c *bot.Conversation) (bot.Change, error) {
						c.State.Turns++
						return bot.Change{}, nil
					}); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Turn: %v", err)
	}
	if c, err := a.Get(ctx, shared); err != nil || c.Version != 40 || c.State.Turns != 40 {
		t.Errorf("%s after 40 turns on two instances: %+v, %v", shared, c, err)
	}

	// Outbox: both instances poll at once; each entry goes to one.
	later := time.Now().Add(2 * bot.OutboxLease)
	claimed := storetest.ClaimAll(t, []bot.Store{a, b}, 4, "telegram", later, 7)
	if len(claimed) != len(msgs) {
		t.Errorf("%d outbox entries claimed, want %d", len(claimed), len(msgs))
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("outbox entry %d claimed %d times", id, n)
		}
	}

	// Tickets: both instances open one for each user at once; then two
	// moderators, one per instance, claim each at once.
	type created struct {
		id  int64
		new bool
	}
	got := make(map[bot.Key][]created)
	errs = make(chan error, 4*users)
	for u := range users {
		k := bot.Key{Channel: "telegram", User: fmt.Sprint("u", u)}
		for _, s := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk, isNew, err := s.CreateTicket(ctx, bot.Ticket{Key: k, Reason: flows.ReasonAsked, Created: time.Now()})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[k] = append(got[k], created{tk.ID, isNew})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	var ids []int64
	for k, c := range got {
		if len(c) != 2 || c[0].id != c[1].id || c[0].new == c[1].new {
			t.Errorf("%s: CreateTicket on both instances gave %+v; want one ticket, created once", k, c)
		}
		ids = append(ids, c[0].id)
	}
	if l, err := a.ListTickets(ctx, bot.TicketPending); err != nil || len(l) != users {
		t.Errorf("ListTickets = %d tickets, %v; want %d", len(l), err, users)
	}
	winners := map[int64][]string{}
	for _, id := range ids {
		for i, s := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mod := fmt.Sprint("mod", i)
				_, err := s.ClaimTicket(ctx, id, mod, mod, time.Now())
				switch {
				case err == nil:
					mu.Lock()
					winners[id] = append(winners[id], mod)
					mu.Unlock()
				case !errors.Is(err, bot.ErrClaimed):
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		if len(winners[id]) != 1 {
			t.Errorf("ticket %d claimed by %v, want exactly one", id, winners[id])
		}
		if tk, err := b.GetTicket(ctx, id); err != nil || len(winners[id]) == 1 && tk.Moderator != winners[id][0] {
			t.Errorf("ticket %d = %+v, %v; want claimed by %v", id, tk, err, winners[id])
		}
	}
}

// TestFencing checks that a save never overwrites a newer state, even
// when the conversation changed behind the lock's back.
func TestFencing(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.DSN(t))
	defer s.Close()
	k := bot.Key{Channel: "console", User: "u"}
	if _, err := s.Turn(ctx, k, "m1", func(c *bot.Conversation) (bot.Change, error) { return bot.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	// A rogue writer bumps the version while fn runs, every time.
	calls := 0
	_, err := s.Turn(ctx, k, "m2", func(c *bot.Conversation) (bot.Change, error) {
		calls++
		if _, err := s.pool.Exec(ctx, `UPDATE conversations SET version = version + 1`); err != nil {
			t.Fatal(err)
		}
		return bot.Change{}, nil
	})
	if !errors.Is(err, bot.ErrConflict) {
		t.Fatalf("Turn fenced off every time: error %v, want ErrConflict", err)
	}
	if calls != maxAttempts {
		t.Errorf("fn called %d times, want %d (retries)", calls, maxAttempts)
	}
	c, err := s.Get(ctx, k)
	if err != nil || c.Version != 1+maxAttempts {
		t.Errorf("Version = %d, %v; want the rogue writer's %d", c.Version, err, 1+maxAttempts)
	}
	// The message was not recorded: it can be handled now.
	if _, err := s.Turn(ctx, k, "m2", func(c *bot.Conversation) (bot.Change, error) { return bot.Change{}, nil }); err != nil {
		t.Errorf("Turn after the conflict: %v", err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const pw = "s3cret-Pa55word"
	for _, dsn := range []string{
		"postgres://dmdoctor:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=dmdoctor password=" + pw + " dbname=db sslmode=disable connect_timeout=2",
		"postgres://dmdoctor:" + pw + "@127.0.0.1:notaport/db",
		"host=127.0.0.1 password='" + pw + " sslmode=disable",
		"postgres://dmdoctor:" + pw + "@[::1/db",
	} {
		s, err := Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open: no error")
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Open error shows the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("Open error %q lacks the postgres: prefix", err)
		}
	}
}

// TestWaitAcrossInstancesHonoursContext has a turn wait for another
// instance's turn of the same conversation until its deadline.
func TestWaitAcrossInstancesHonoursContext(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	k := bot.Key{Channel: "console", User: "u"}
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.Turn(context.Background(), k, "m1", func(c *bot.Conversation) (bot.Change, error) {
			close(entered)
			<-release
			return bot.Change{}, nil
		})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	called := false
	_, err := b.Turn(ctx, k, "m2", func(c *bot.Conversation) (bot.Change, error) {
		called = true
		return bot.Change{}, nil
	})
	waited := time.Since(start)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first turn: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || called {
		t.Errorf("turn waiting on another instance: error %v, fn called %v; want DeadlineExceeded, not called", err, called)
	}
	if waited > 3*time.Second {
		t.Errorf("gave up after %v", waited)
	}
	// b still works.
	if _, err := b.Turn(context.Background(), k, "m2", func(c *bot.Conversation) (bot.Change, error) { return bot.Change{}, nil }); err != nil {
		t.Errorf("next turn on b: %v", err)
	}
	if c, err := a.Get(context.Background(), k); err != nil || c.Version != 2 {
		t.Errorf("Get = %+v, %v; want Version 2", c, err)
	}
}

// TestCloseEndsGoroutines checks that a closed Store leaves no goroutine
// behind.
func TestCloseEndsGoroutines(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.CloseEndsGoroutines(t, func() bot.Store { return open(t, dsn) })
}
