// Package memory is a bot.Store kept in memory: for tests and for trying
// dmdoctor without a database. Nothing survives the process.
package memory

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Store is an in-memory bot.Store. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	convs   map[bot.Key]*entry
	handled map[string]struct{} // channel + "\x00" + message ID
	outbox  []bot.Outgoing
	nextID  int64
	closed  bool
}

// entry serialises turns of one key while the store's own lock is free.
type entry struct {
	mu   sync.Mutex
	conv []byte // JSON of bot.Conversation, so callers never share memory with the store
}

// New returns an empty Store.
func New() *Store {
	return &Store{convs: map[bot.Key]*entry{}, handled: map[string]struct{}{}}
}

var _ bot.Store = (*Store)(nil)

func handledKey(key bot.Key, msgID string) string { return key.Channel + "\x00" + msgID }

// Turn implements bot.Store.
func (s *Store) Turn(ctx context.Context, key bot.Key, msgID string, fn func(*bot.Conversation) ([]bot.Outgoing, error)) ([]bot.Outgoing, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	e := s.convs[key]
	if e == nil {
		e = &entry{}
		s.convs[key] = e
	}
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if msgID != "" {
		s.mu.Lock()
		_, dup := s.handled[handledKey(key, msgID)]
		s.mu.Unlock()
		if dup {
			return nil, bot.ErrDuplicate
		}
	}
	var c bot.Conversation
	if e.conv != nil {
		if err := json.Unmarshal(e.conv, &c); err != nil {
			return nil, err
		}
	}
	out, err := fn(&c)
	if err != nil {
		return nil, err
	}
	c.Key = key
	c.Version++
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if msgID != "" {
		if _, dup := s.handled[handledKey(key, msgID)]; dup {
			return nil, bot.ErrDuplicate
		}
		s.handled[handledKey(key, msgID)] = struct{}{}
	}
	e.conv = data
	for i := range out {
		s.nextID++
		out[i].ID = s.nextID
		out[i].Key = key
		s.outbox = append(s.outbox, out[i])
	}
	return out, nil
}

// Get implements bot.Store.
func (s *Store) Get(ctx context.Context, key bot.Key) (*bot.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	e := s.convs[key]
	s.mu.Unlock()
	if e == nil {
		return nil, bot.ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conv == nil {
		return nil, bot.ErrNotFound
	}
	var c bot.Conversation
	if err := json.Unmarshal(e.conv, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Pending implements bot.Store.
func (s *Store) Pending(ctx context.Context, channel string) ([]bot.Outgoing, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bot.Outgoing
	for _, o := range s.outbox {
		if o.Key.Channel == channel {
			out = append(out, o)
		}
	}
	return out, nil
}

// Delivered implements bot.Store.
func (s *Store) Delivered(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.outbox {
		if o.ID == id {
			s.outbox = append(s.outbox[:i], s.outbox[i+1:]...)
			break
		}
	}
	return nil
}

// Close implements bot.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

type closedError struct{}

func (closedError) Error() string { return "memory store: closed" }

var errClosed error = closedError{}
