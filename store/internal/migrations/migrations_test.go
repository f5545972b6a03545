package migrations

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fs := fstest.MapFS{
		"migrations/002_more.sql": {Data: []byte("two")},
		"migrations/001_init.sql": {Data: []byte("one")},
	}
	got, err := Load(fs)
	if err != nil || len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("Load = %q, %v", got, err)
	}
	for _, bad := range []fstest.MapFS{
		{"migrations/002_gap.sql": {Data: []byte("x")}},
		{"migrations/init.sql": {Data: []byte("x")}},
		{"migrations/001_a.sql": {Data: []byte("x")}, "migrations/001_b.sql": {Data: []byte("y")}},
		{"migrations/001_a.sql": {Data: []byte("x")}, "migrations/003_b.sql": {Data: []byte("y")}},
		{"migrations/000_a.sql": {Data: []byte("x")}},
	} {
		if _, err := Load(bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
