package fifo

import "testing"

func TestMapForgetsOldest(t *testing.T) {
	m := New[string, int](3)
	for i, k := range []string{"a", "b", "c", "d"} {
		if !m.Put(k, i) {
			t.Errorf("Put(%s) not new", k)
		}
	}
	if _, ok := m.Get("a"); ok || m.Len() != 3 {
		t.Errorf("oldest kept or Len %d", m.Len())
	}
	// Storing a known key replaces its value and keeps its place.
	if m.Put("b", 10) {
		t.Error("Put(b) again was new")
	}
	if v, ok := m.Get("b"); !ok || v != 10 {
		t.Errorf("Get(b) = %d, %v", v, ok)
	}
	m.Put("e", 4)
	if _, ok := m.Get("b"); ok {
		t.Error("b kept although it was the oldest")
	}
	for _, k := range []string{"c", "d", "e"} {
		if _, ok := m.Get(k); !ok {
			t.Errorf("%s forgotten", k)
		}
	}
}
