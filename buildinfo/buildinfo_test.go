package buildinfo

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Not parallel: it sets the link-time variables.
func TestLinkTimeValuesWin(t *testing.T) {
	old, oldRev := Version, Revision
	t.Cleanup(func() { Version, Revision = old, oldRev })

	Version, Revision = "", ""
	got := Get()
	require.NotEmpty(t, got.Version, "the toolchain's version, or (devel)")
	require.Equal(t, runtime.Version(), got.GoVersion)

	Version, Revision = "v1.2.3", "0123abcd"
	got = Get()
	require.Equal(t, "v1.2.3", got.Version)
	require.Equal(t, "0123abcd", got.Revision)
	require.Equal(t, "paystate v1.2.3 0123abcd "+runtime.Version(), got.String())
}
