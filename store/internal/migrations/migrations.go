// Package migrations reads a store's versioned schema scripts:
// migrations/NNN_name.sql takes the schema from version NNN-1 to NNN.
// SQLite and PostgreSQL each embed their own scripts and apply them their
// own way; reading and checking them is shared.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Load returns the scripts of fsys's migrations/*.sql in order, checking
// that their numbers run 1, 2, 3… without gaps.
func Load(fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	scripts := make([]string, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || n > len(names) || scripts[n-1] != "" {
			return nil, fmt.Errorf("migration %s: want names 001_name.sql, 002_name.sql… without gaps", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		scripts[n-1] = string(b)
	}
	return scripts, nil
}

// Newer is the error for a database whose schema is newer than the binary.
func Newer(have, know int) error {
	return fmt.Errorf("database schema version %d is newer than this dmdoctor (knows up to %d): upgrade dmdoctor", have, know)
}
