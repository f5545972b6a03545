package memory

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

// TestCopyConvIsJSONRoundTrip checks that copyConv gives what a JSON round
// trip gives, for a conversation with every field set (so a field added to
// bot.Conversation or flows.State and forgotten in copyConv fails here)
// and for one with empty lists and maps, and that the copy shares nothing
// with the original.
func TestCopyConvIsJSONRoundTrip(t *testing.T) {
	for _, empty := range []bool{false, true} {
		var c bot.Conversation
		fill(reflect.ValueOf(&c).Elem(), "a", empty)
		want := roundTrip(t, c)

		got := copyConv(&c)
		for _, tm := range []time.Time{got.Created, got.Updated} {
			if tm != tm.Round(0) {
				t.Errorf("empty=%v: copied time %v keeps its monotonic clock reading", empty, tm)
			}
		}
		// JSON brings local times back in UTC: same instant.
		if g := utc(got); !reflect.DeepEqual(g, want) {
			t.Errorf("empty=%v: copyConv =\n%+v\nJSON round trip =\n%+v", empty, g, want)
		}
		// Writing through the copy's lists, maps and pointers must leave
		// the original as it was.
		fill(reflect.ValueOf(&got).Elem(), "b", empty)
		if again := roundTrip(t, c); !reflect.DeepEqual(again, want) {
			t.Errorf("empty=%v: changing the copy changed the original:\n%+v\nwas\n%+v", empty, again, want)
		}
	}
}

func utc(c bot.Conversation) bot.Conversation {
	c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
	return c
}

func roundTrip(t *testing.T, c bot.Conversation) bot.Conversation {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out bot.Conversation
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// fill sets every field reachable from v to a non-zero value made of s,
// writing through existing slices, maps and pointers; with empty set,
// slices and maps are made empty but not nil.
func fill(v reflect.Value, s string, empty bool) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		// With a monotonic clock reading, which JSON drops.
		v.Set(reflect.ValueOf(time.Now()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(len(s)) + 7)
	case reflect.Float64:
		v.SetFloat(0.25 + float64(len(s)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), s, empty)
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), s, empty)
	case reflect.Slice:
		if empty {
			v.Set(reflect.MakeSlice(v.Type(), 0, 1))
			return
		}
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		}
		for i := range v.Len() {
			fill(v.Index(i), s, empty)
		}
	case reflect.Map:
		if empty {
			v.Set(reflect.MakeMap(v.Type()))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, k := range []string{"k1", "k2"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, s, empty)
			v.SetMapIndex(reflect.ValueOf(k), e)
		}
	default:
		panic("fill: unexpected kind " + v.Kind().String() + " of " + v.Type().String())
	}
}
