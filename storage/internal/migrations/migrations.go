// Package migrations reads a backend's embedded schema migrations: a
// numbered list of SQL files, 0001_init.sql, 0002_..., where a released
// file is never edited and a change is a new file. Both backends share the
// rules, so they share the reader.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paystate/paystate/storage"
)

// Migration is one SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the .sql files of dir in fsys in version order. Versions
// must run 1, 2, 3 ... without gaps or duplicates; backend names the
// caller in errors.
func Load(fsys fs.FS, dir, backend string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("%s: migration %q: name must be NNNN_description.sql", backend, name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: migration %q: name must start with a positive number", backend, name)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s: migration %q: expected version %d", backend, m.Name, i+1)
		}
	}
	return ms, nil
}

// Latest is the newest version in ms, 0 when empty.
func Latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Recorded is a row of a database's schema_migrations table.
type Recorded struct {
	Version   int
	Name      string
	AppliedAt int64 // Unix microseconds
}

// Status lists every migration ms knows, applied or pending, and every one
// the database recorded that ms does not know, in version order.
func Status(ms []Migration, recorded []Recorded) []storage.MigrationStatus {
	byVersion := map[int]Recorded{}
	for _, r := range recorded {
		byVersion[r.Version] = r
	}
	var out []storage.MigrationStatus
	for _, m := range ms {
		s := storage.MigrationStatus{Version: m.Version, Name: m.Name}
		if r, ok := byVersion[m.Version]; ok {
			s.AppliedAt = time.UnixMicro(r.AppliedAt).UTC()
			delete(byVersion, m.Version)
		}
		out = append(out, s)
	}
	for _, r := range byVersion {
		out = append(out, storage.MigrationStatus{Version: r.Version, Name: r.Name, AppliedAt: time.UnixMicro(r.AppliedAt).UTC(), Unknown: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}
