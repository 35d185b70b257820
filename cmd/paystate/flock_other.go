//go:build !unix

package main

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("locked")

// flock does nothing where flock(2) does not exist: the data directory is
// not protected there.
func flock(*os.File) error { return nil }
