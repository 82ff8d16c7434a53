// Package diskfull recognises "the disk is full" however it reaches us: as ENOSPC or EDQUOT
// from the kernel, or only as text inside a DuckDB error ("No space left on device"), so
// that every layer can keep the cause and the HTTP layer can answer 507 instead of blaming
// the request.
package diskfull

import (
	"errors"
	"strings"
	"syscall"
)

// ErrDiskFull is the cause every disk-full error matches with errors.Is once Wrap has seen it.
var ErrDiskFull = errors.New("the server's disk is full")

// texts are the messages the C library (through DuckDB) prints for ENOSPC and EDQUOT.
var texts = []string{"no space left on device", "disk quota exceeded"}

// Is reports whether err says the disk (or the user's quota) is full.
func Is(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrDiskFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, t := range texts {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

// Error is a disk-full failure: it matches ErrDiskFull and keeps the original error (with
// its paths, for the log) as its cause.
type Error struct{ Cause error }

// Error is the cause's message, for the log.
func (e *Error) Error() string { return e.Cause.Error() }

// Unwrap gives both ErrDiskFull and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{ErrDiskFull, e.Cause} }

// Wrap returns err marked with ErrDiskFull when it says the disk is full, else err itself.
func Wrap(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !Is(err) {
		return err
	}
	return &Error{Cause: err}
}
