//go:build race

package crashtest

// raceBuild is set when the tests run under the race detector: the binary
// they run is then built with it too, and a server that reports a data
// race fails the test that ran it.
const raceBuild = true
