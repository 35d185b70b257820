//go:build !(linux && cgo)

package sqlite

// setTrimThreshold does nothing here: the threshold is glibc's.
func setTrimThreshold(int) int { return -1 }
