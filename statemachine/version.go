package statemachine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
)

// Rules is the revision of the code that runs every table: Decide and the
// amount rules. It is part of every machine's version, so that a change in
// how tables are read (not only in a table) also marks the verdicts decided
// before it as decided under an older version. Raise it with any change
// that can decide an event differently.
const Rules = 13

// Version is the content hash of the table as the engine runs it: twelve
// hex digits of a SHA-256 over Rules and every row that can change a
// verdict, in an encoding that does not depend on the order of a row's
// sources or of the record-only words (neither changes a verdict) and
// leaves out the notes (which are prose for readers). The same table gives
// the same version in every process and every run.
func (t Table) Version() string {
	h := sha256.New()
	str := func(s string) {
		writeUint(h, uint64(len(s)))
		h.Write([]byte(s))
	}
	strs := func(ss []string) {
		ss = slices.Clone(ss)
		slices.Sort(ss)
		writeUint(h, uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	str("paystate.machine.v1")
	writeUint(h, Rules)
	str(t.Provider)
	str(string(t.Kind))
	writeUint(h, uint64(t.Mode))
	// Row order stays: it is the order status paths are searched in.
	writeUint(h, uint64(len(t.Transitions)))
	for _, tr := range t.Transitions {
		str(tr.Event)
		from := make([]string, len(tr.From))
		for i, s := range tr.From {
			from[i] = string(s)
		}
		strs(from)
		str(string(tr.To))
		writeUint(h, uint64(tr.Effect))
		// The row's flags in one word: a row without UnlessAuthorized
		// hashes as it did before that flag existed.
		flags := uint64(0)
		if tr.Revert {
			flags |= 1
		}
		if tr.UnlessAuthorized {
			flags |= 2
		}
		writeUint(h, flags)
	}
	strs(t.RecordOnly)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Version is the version of the machine's table; see Table.Version.
func (m *Machine) Version() string { return m.version }

func writeUint(h hash.Hash, v uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	h.Write(b[:])
}
