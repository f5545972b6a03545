package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/internal/keylock"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultPath is the file dmdoctor uses when not told another.
const DefaultPath = "dmdoctor.db"

const (
	busyTimeout = 10 * time.Second // waiting for another process's lock
	maxBatch    = 256              // writes committed together at most
	maxAttempts = 5                // tries of a turn whose conversation changed meanwhile
)

// Store is a bot.Store in one SQLite file. Open it with Open; it is safe
// for concurrent use.
type Store struct {
	rdb   *sql.DB // readers
	wdb   *sql.DB // the single writing connection, used by the writer only
	now   func() time.Time
	locks keylock.Locks[bot.Key]

	mu     sync.RWMutex // held for reading while a write is queued
	closed bool
	queue  chan *write
	stop   chan struct{}
	done   chan struct{}

	stmts map[string]*sql.Stmt // prepared on wdb
	load1 *sql.Stmt            // qLoad, prepared on rdb
}

var _ bot.Store = (*Store)(nil)

type options struct {
	now         func() time.Time
	synchronous string
}

// Option configures Open.
type Option func(*options)

// WithClock sets the clock that outbox leases start from (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithSynchronous sets SQLite's PRAGMA synchronous: "FULL" (the default)
// makes every acknowledged write survive a power loss; "NORMAL" survives a
// crash of the process but not of the machine, and is faster.
func WithSynchronous(mode string) Option {
	return func(o *options) { o.synchronous = strings.ToUpper(mode) }
}

// Open opens (creating it when missing) the SQLite database at path and
// brings its schema up to date. A database whose schema is newer than
// this dmdoctor knows is refused.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{now: time.Now, synchronous: "FULL"}
	for _, opt := range opts {
		opt(&o)
	}
	switch o.synchronous {
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: synchronous %q: want FULL, NORMAL or EXTRA", o.synchronous)
	}
	if path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q: must not contain ? or #", path)
	}
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"foreign_keys(1)",
		"synchronous(" + o.synchronous + ")",
	}
	// The writer keeps a big page cache (64 MiB at most), so that a
	// batch's dirty pages are not spilled to the WAL before its commit;
	// BEGIN IMMEDIATE takes the write lock at once.
	w := url.Values{"_pragma": slices.Concat(pragmas, []string{"journal_mode(WAL)", "cache_size(-65536)"}), "_txlock": {"immediate"}}
	wdb, err := sql.Open("sqlite", path+"?"+w.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	r := url.Values{"_pragma": slices.Concat(pragmas, []string{"query_only(1)"})}
	rdb, err := sql.Open("sqlite", path+"?"+r.Encode())
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)

	s := &Store{
		rdb:   rdb,
		wdb:   wdb,
		now:   o.now,
		queue: make(chan *write, maxBatch),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		stmts: map[string]*sql.Stmt{},
	}
	for _, q := range prepared {
		st, err := wdb.PrepareContext(ctx, q)
		if err != nil {
			s.closeDBs()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	if s.load1, err = rdb.PrepareContext(ctx, qLoad); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	go s.writer()
	return s, nil
}

// Close stops the writer once the writes already queued are committed and
// closes the database. Calls after Close fail; Close itself may be called
// again.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	<-s.done
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.load1 != nil {
		errs = append(errs, s.load1.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

var errClosed = errors.New("store closed")

// write is one unit of work for the writer: fn runs in the writer's
// transaction and is acknowledged on done after the commit. fn must be
// repeatable (a failed batch is retried write by write) and, when it
// returns an error made by fail, must have written nothing.
type write struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error

	mu    sync.Mutex
	taken bool // by the writer (to run it) or by the caller (to drop it)
}

// claim reports whether this caller (the writer or the waiting caller)
// was first to take the write.
func (w *write) claim() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.taken {
		return false
	}
	w.taken = true
	return true
}

// exec runs fn through the writer and waits for its commit. A write not
// yet started when ctx ends is dropped; one started is waited for (it is
// short and may already be committed). fn gets the writer's context, not
// ctx, so that a caller giving up cannot break a batch midway.
func (s *Store) exec(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &write{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.queue <- w:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		if w.claim() {
			return ctx.Err()
		}
		return <-w.done
	}
}

// writer owns wdb: it takes the queued writes, as many as are waiting,
// and commits them in one transaction.
func (s *Store) writer() {
	defer close(s.done)
	ctx := context.Background()
	batch := make([]*write, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case w := <-s.queue:
			batch = append(batch, w)
		case <-s.stop:
			// No write is queued after stop: finish those that are.
			for {
				select {
				case w := <-s.queue:
					s.commit(ctx, []*write{w})
				default:
					return
				}
			}
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.queue:
				batch = append(batch, w)
			default:
				break more
			}
		}
		s.commit(ctx, batch)
	}
}

// commit runs a batch of writes in one transaction. A write failing with
// an error of its own (a bot error such as bot.ErrDuplicate) fails alone;
// any other error aborts the batch, whose writes are then retried one
// transaction each, so that one bad write cannot fail the others.
func (s *Store) commit(ctx context.Context, batch []*write) {
	run := batch[:0:0]
	for _, w := range batch {
		if w.claim() {
			run = append(run, w)
		}
	}
	if len(run) == 0 {
		return
	}
	results, err := s.commitBatch(ctx, run)
	if err != nil && len(run) > 1 {
		for _, w := range run {
			res, err := s.commitBatch(ctx, []*write{w})
			if err != nil {
				res = []error{err}
			}
			w.done <- res[0]
		}
		return
	}
	for i, w := range run {
		if err != nil {
			w.done <- err
		} else {
			w.done <- results[i]
		}
	}
}

// commitBatch returns each write's own error, or an error that fails the
// whole batch. A write that returns its own error has written nothing
// (see fail), so the others need no savepoints.
func (s *Store) commitBatch(ctx context.Context, run []*write) ([]error, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	results := make([]error, len(run))
	for i, w := range run {
		if err := w.fn(ctx, tx); err != nil {
			if !ownError(err) {
				tx.Rollback()
				return nil, err
			}
			results[i] = err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return results, nil
}

// ownError reports whether err is a write's own outcome rather than a
// failure of the database.
func ownError(err error) bool {
	var o outcome
	return errors.As(err, &o)
}

// outcome marks an error a write chose to return, having written nothing
// (or undone what it wrote): the rest of the batch goes on.
type outcome struct{ err error }

func (o outcome) Error() string { return o.err.Error() }
func (o outcome) Unwrap() error { return o.err }

// fail returns err as a write's own outcome.
func fail(err error) error { return outcome{err} }

// stmt returns the prepared statement q bound to tx.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	st, ok := s.stmts[q]
	if !ok {
		panic("sqlite: statement not prepared: " + q)
	}
	return tx.StmtContext(ctx, st)
}

// ts and fromTS convert times to the stored Unix nanoseconds (UTC); the
// zero time is 0.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
