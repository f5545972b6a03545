package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/store/internal/migrations"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/store/storetest"
)

func open(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bot.Store {
		return open(t, filepath.Join(t.TempDir(), "dmdoctor.db"))
	})
}

func TestConformanceSynchronousNormal(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, func(t *testing.T) bot.Store {
		return open(t, filepath.Join(t.TempDir(), "dmdoctor.db"), WithSynchronous("normal"))
	})
}

// TestReopen checks that everything survives Close and Open.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dmdoctor.db")
	s := open(t, path)
	k := bot.Key{Channel: "telegram", User: "42"}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	out, err := s.Turn(ctx, k, "m1", func(c *bot.Conversation) (bot.Change, error) {
		c.Created, c.Updated, c.Address = now, now, "chat-42"
		c.State = flows.State{Phase: flows.Feedback, Cause: "ban", Turns: 3}
		return bot.Change{
			Transcript: []bot.Line{{Time: now, From: bot.FromUser, Text: "help"}},
			Outbox:     []bot.Outgoing{{Address: "chat-42", Replies: []flows.Reply{{Text: "did that fix it?"}}, Created: now}},
			Outcome:    &bot.Outcome{Kind: flows.OutcomeResolved, Cause: "ban", Time: now},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tk, _, err := s.CreateTicket(ctx, bot.Ticket{Key: k, Reason: flows.ReasonAsked, Created: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTicketRef(ctx, tk.ID, "discord", "c:m"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTicket(ctx, tk.ID, "discord:1", "Ann", now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	c, err := s.Get(ctx, k)
	if err != nil || c.Version != 1 || c.State.Cause != "ban" || c.State.Turns != 3 || c.Address != "chat-42" || !c.Updated.Equal(now) {
		t.Errorf("Get after reopen = %+v, %v", c, err)
	}
	if _, err := s.Turn(ctx, k, "m1", func(*bot.Conversation) (bot.Change, error) { return bot.Change{}, nil }); !errors.Is(err, bot.ErrDuplicate) {
		t.Errorf("handled message after reopen: error %v, want ErrDuplicate", err)
	}
	if tr, err := s.Transcript(ctx, k); err != nil || len(tr) != 1 || tr[0].Text != "help" {
		t.Errorf("Transcript after reopen = %+v, %v", tr, err)
	}
	got, err := s.ClaimOutbox(ctx, "telegram", time.Now().Add(2*bot.OutboxLease), bot.OutboxLease, 10)
	if err != nil || len(got) != 1 || got[0].ID != out[0].ID || got[0].Replies[0].Text != "did that fix it?" {
		t.Errorf("outbox after reopen = %+v, %v", got, err)
	}
	if g, err := s.TicketByRef(ctx, "discord", "c:m"); err != nil || g.ID != tk.ID || g.Moderator != "discord:1" {
		t.Errorf("ticket after reopen = %+v, %v", g, err)
	}
	if st, err := s.Stats(ctx, now); err != nil || st.Outcomes[flows.OutcomeResolved] != 1 || st.OpenTickets != 1 {
		t.Errorf("Stats after reopen = %+v, %v", st, err)
	}
	// New outbox IDs stay above the old ones even after delivery.
	if err := s.Delivered(ctx, out[0].ID); err != nil {
		t.Fatal(err)
	}
	out2, err := s.Turn(ctx, k, "m2", func(c *bot.Conversation) (bot.Change, error) {
		return bot.Change{Outbox: []bot.Outgoing{{Replies: []flows.Reply{{Text: "x"}}}}}, nil
	})
	if err != nil || len(out2) != 1 || out2[0].ID <= out[0].ID {
		t.Errorf("outbox ID after reopen and delivery = %+v, %v; want > %d", out2, err, out[0].ID)
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dmdoctor.db")
	s := open(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scripts, err := migrations.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	version := func() int {
		t.Helper()
		var v int
		if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := version(); v != len(scripts) {
		t.Fatalf("schema version %d after Open, want %d", v, len(scripts))
	}

	// A next migration is applied once, in order, keeping the data.
	if _, err := db.Exec(`INSERT INTO handled (channel, msg_id, at) VALUES ('console', 'kept', 1)`); err != nil {
		t.Fatal(err)
	}
	next := append(scripts, `CREATE TABLE extra (x INTEGER); INSERT INTO extra SELECT count(*) FROM handled;`)
	for range 2 {
		if err := migrateWith(ctx, db, next); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT sum(x) FROM extra`).Scan(&n); err != nil || n != 1 {
		t.Errorf("next migration ran with %d rows, %v; want once with 1", n, err)
	}
	if v := version(); v != len(next) {
		t.Errorf("schema version %d, want %d", v, len(next))
	}

	// A failing migration changes nothing.
	bad := append(next, `CREATE TABLE half (x INTEGER); SELECT * FROM no_such_table;`)
	if err := migrateWith(ctx, db, bad); err == nil {
		t.Error("failing migration: no error")
	}
	if v := version(); v != len(next) {
		t.Errorf("schema version %d after a failed migration, want %d", v, len(next))
	}
	if err := db.QueryRow(`SELECT count(*) FROM half`).Scan(&n); err == nil {
		t.Error("a failed migration left a table behind")
	}

	// This binary refuses the newer schema.
	_, err = Open(ctx, path)
	want := fmt.Sprintf("database schema version %d is newer than this dmdoctor (knows up to %d): upgrade dmdoctor", len(next), len(scripts))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer schema: error %v, want %q", err, want)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, len(scripts)); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if _, err := s.Turn(ctx, bot.Key{Channel: "console", User: "u"}, "kept", nil); !errors.Is(err, bot.ErrDuplicate) {
		t.Errorf("data after migrations: error %v, want ErrDuplicate", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		opts []Option
	}{
		{"", nil},
		{filepath.Join(dir, "a?b.db"), nil},
		{filepath.Join(dir, "x.db"), []Option{WithSynchronous("OFF")}},
		{filepath.Join(dir, "missing", "x.db"), nil},
	} {
		if s, err := Open(ctx, tc.path, tc.opts...); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", tc.path)
		} else if !strings.HasPrefix(err.Error(), "sqlite: ") {
			t.Errorf("Open(%q) error %q lacks the sqlite: prefix", tc.path, err)
		}
	}
	// Not a database.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, junk); err == nil {
		s.Close()
		t.Error("Open of a file that is not a database: no error")
	}
}

// TestCloseWaitsForQueuedWrites checks that writes queued before Close are
// committed, and that later calls fail.
func TestCloseWaitsForQueuedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dmdoctor.db")
	s := open(t, path)
	const n = 50
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.Turn(ctx, bot.Key{Channel: "console", User: fmt.Sprint(i)}, "m", func(c *bot.Conversation) (bot.Change, error) {
				return bot.Change{}, nil
			})
			errs <- err
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for range n {
		if err := <-errs; err == nil {
			ok++
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s = open(t, path)
	defer s.Close()
	st, err := s.Stats(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Conversations != ok {
		t.Errorf("%d turns acknowledged, %d conversations stored", ok, st.Conversations)
	}
}

// TestTwoStoresOneFile runs two Stores on one file, as two processes
// would: turns of one conversation are fenced by Version (the loser
// starts over), and each message is handled once.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dmdoctor.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	const users, perUser = 4, 25
	var mu sync.Mutex
	handled := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*users*perUser)
	for _, s := range []*Store{a, b} {
		for u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := bot.Key{Channel: "console", User: fmt.Sprint("u", u)}
				for i := range perUser {
					id := fmt.Sprintf("m%d-%d", u, i)
					_, err := s.Turn(ctx, k, id, func(c *bot.Conversation) (bot.Change, error) {
						c.State.Turns++
						return bot.Change{Transcript: []bot.Line{{From: bot.FromUser, Text: id}}}, nil
					})
					switch {
					case err == nil:
						mu.Lock()
						handled[id]++
						mu.Unlock()
					case !errors.Is(err, bot.ErrDuplicate):
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
	if len(handled) != users*perUser {
		t.Errorf("%d messages handled, want %d", len(handled), users*perUser)
	}
	for id, n := range handled {
		if n != 1 {
			t.Errorf("message %s handled %d times", id, n)
		}
	}
	for u := range users {
		k := bot.Key{Channel: "console", User: fmt.Sprint("u", u)}
		c, err := a.Get(ctx, k)
		if err != nil || c.Version != perUser || c.State.Turns != perUser {
			t.Errorf("%s = %+v, %v; want Version and counter %d", k, c, err, perUser)
		}
		if tr, _ := b.Transcript(ctx, k); len(tr) != perUser {
			t.Errorf("%s: %d transcript lines, want %d", k, len(tr), perUser)
		}
	}
}

// TestCloseEndsGoroutines checks that a closed Store leaves no goroutine
// behind.
func TestCloseEndsGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dmdoctor.db")
	storetest.CloseEndsGoroutines(t, func() bot.Store { return open(t, path) })
}
