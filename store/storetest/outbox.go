package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

func (s *suite) outboxIDs(t *testing.T) {
	st := s.store(t)
	k1, k2 := key("u1"), key("u2")
	want := []bot.Outgoing{reply(k1, "first", at(0)), reply(k1, "second", at(time.Second))}
	out := turn(t, st, k1, "m1", step(at(0), bot.Change{Outbox: slices.Clone(want)}))
	out = append(out, turn(t, st, k2, "m2", step(at(0), bot.Change{Outbox: []bot.Outgoing{reply(k2, "third", at(0))}}))...)
	out = append(out, turn(t, st, k1, "m3", step(at(0), bot.Change{Outbox: []bot.Outgoing{reply(k1, "fourth", at(0))}}))...)
	if len(out) != 4 {
		t.Fatalf("turns returned %d outbox entries, want 4", len(out))
	}
	for i, o := range out {
		if o.ID <= 0 || (i > 0 && o.ID <= out[i-1].ID) {
			t.Fatalf("outbox IDs %v: want positive and increasing", ids(out))
		}
	}
	for i, w := range want {
		o := out[i]
		if o.Key != k1 || o.Address != w.Address || !reflect.DeepEqual(o.Replies, w.Replies) || !o.Created.Equal(w.Created) {
			t.Errorf("outbox entry %d = %+v, want %+v", i, o, w)
		}
	}

	got := claim(t, st, time.Now().Add(bot.OutboxLease+time.Minute), 10)
	if !slices.Equal(ids(got), ids(out)) {
		t.Fatalf("ClaimOutbox = %v, want %v (oldest first)", ids(got), ids(out))
	}
	for i := range got {
		g, w := got[i], out[i]
		if g.Key != w.Key || g.Address != w.Address || !reflect.DeepEqual(g.Replies, w.Replies) || !g.Created.Equal(w.Created) {
			t.Errorf("claimed entry %d = %+v, want %+v", i, g, w)
		}
	}
}

func (s *suite) outboxLease(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	k := key("u1")
	// The turns happen now, by the wall clock, as Turn's lease starts now.
	now := time.Now()
	out := turn(t, st, k, "m1", step(now, bot.Change{Outbox: []bot.Outgoing{reply(k, "a", at(0)), reply(k, "b", at(0))}}))
	tg := bot.Key{Channel: "telegram", User: "u1"}
	tgOut := turn(t, st, tg, "m1", step(now, bot.Change{Outbox: []bot.Outgoing{reply(tg, "tg", at(0))}}))

	// A turn's own entries are leased to it for OutboxLease.
	if got := claim(t, st, time.Now(), 10); len(got) != 0 {
		t.Fatalf("ClaimOutbox right after the turn = %v, want none (leased to the turn)", ids(got))
	}
	if got := claim(t, st, time.Now().Add(bot.OutboxLease/2), 10); len(got) != 0 {
		t.Fatalf("ClaimOutbox within the turn's lease = %v, want none", ids(got))
	}
	// Expired: claimed, and leased anew to the claimer.
	later := time.Now().Add(bot.OutboxLease + time.Minute)
	if got := claim(t, st, later, 10); !slices.Equal(ids(got), ids(out)) {
		t.Fatalf("ClaimOutbox after the lease = %v, want %v", ids(got), ids(out))
	}
	if got := claim(t, st, later.Add(bot.OutboxLease/2), 10); len(got) != 0 {
		t.Fatalf("ClaimOutbox within the claim's lease = %v, want none", ids(got))
	}

	// Delivered entries are never returned again; unknown IDs are fine.
	if err := st.Delivered(ctx, out[0].ID); err != nil {
		t.Fatalf("Delivered: %v", err)
	}
	if err := st.Delivered(ctx, out[0].ID); err != nil {
		t.Fatalf("Delivered twice: %v", err)
	}
	if err := st.Delivered(ctx, 1<<40); err != nil {
		t.Fatalf("Delivered(unknown ID): %v", err)
	}
	later = later.Add(bot.OutboxLease + time.Second)
	if got := claim(t, st, later, 10); !slices.Equal(ids(got), ids(out[1:])) {
		t.Fatalf("ClaimOutbox after Delivered = %v, want %v", ids(got), ids(out[1:]))
	}

	// Other channels' entries are not returned; limit is honoured.
	more := turn(t, st, k, "m2", step(time.Now(), bot.Change{Outbox: []bot.Outgoing{reply(k, "c", at(0)), reply(k, "d", at(0)), reply(k, "e", at(0))}}))
	later = later.Add(bot.OutboxLease + time.Second)
	want := append([]int64{out[1].ID}, more[0].ID)
	if got := claim(t, st, later, 2); !slices.Equal(ids(got), want) {
		t.Fatalf("ClaimOutbox(limit 2) = %v, want %v", ids(got), want)
	}
	got, err := st.ClaimOutbox(ctx, "telegram", later, bot.OutboxLease, 10)
	if err != nil {
		t.Fatalf("ClaimOutbox(telegram): %v", err)
	}
	if !slices.Equal(ids(got), ids(tgOut)) || got[0].Key != tg {
		t.Fatalf("ClaimOutbox(telegram) = %+v, want %v", got, ids(tgOut))
	}
}

// outboxClaimConcurrent has several pollers claim at once: each entry goes
// to exactly one of them.
func (s *suite) outboxClaimConcurrent(t *testing.T) {
	st := s.store(t)
	var all []int64
	for u := range 10 {
		k := key(fmt.Sprint("u", u))
		var ob []bot.Outgoing
		for i := range 4 {
			ob = append(ob, reply(k, fmt.Sprint(i), at(0)))
		}
		all = append(all, ids(turn(t, st, k, "m"+k.User, step(at(0), bot.Change{Outbox: ob})))...)
	}
	later := time.Now().Add(bot.OutboxLease + time.Minute)
	claimed := ClaimAll(t, []bot.Store{st}, 8, "console", later, 3)
	for _, id := range all {
		if claimed[id] != 1 {
			t.Errorf("entry %d claimed %d times, want once", id, claimed[id])
		}
	}
	if len(claimed) != len(all) {
		t.Errorf("%d entries claimed, want %d", len(claimed), len(all))
	}
}
