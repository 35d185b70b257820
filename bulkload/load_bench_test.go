package bulkload

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkLoadSQLite loads 50 000 orders (100 000 entries) per op into a
// fresh SQLite store, straight into the file and through storage.Tx, and
// reports entries a second.
func BenchmarkLoadSQLite(b *testing.B) {
	seq := orders(false)
	reg := machines(b, seq)
	for _, path := range []string{"file", "tx"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				store, o := openSQLite(b)
				if path == "tx" {
					o.SQLiteFile = ""
				}
				st, err := Load(b.Context(), store, reg, seq, 50000, o)
				require.NoError(b, err)
				b.ReportMetric(float64(st.Entries)/st.Elapsed.Seconds(), "entries/s")
			}
		})
	}
}
