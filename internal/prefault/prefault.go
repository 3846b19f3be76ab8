// Package prefault allocates memory whose pages are backed at once.
//
// A full scan allocates some 10 MB, nearly all of it kept to the end of
// the run with the collector off (cmd/xlpt's fullScanGC), so every page
// is fresh and its first write traps into the kernel: on the test machine
// some 3.7 µs each, thousands per scan. For the few large arrays a scan
// fills, one madvise(MADV_POPULATE_WRITE) (Linux 5.14) backs all their
// pages in one call instead.
package prefault

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const page = 4096

// Bytes asks the kernel to back b's whole pages now. The contents are
// unchanged; where the kernel cannot (older kernels, other systems'
// rules), pages fault in on first write as usual.
func Bytes(b []byte) {
	if len(b) < page {
		return
	}
	lo := int(-uintptr(unsafe.Pointer(&b[0])) & (page - 1))
	hi := lo + (len(b)-lo)/page*page
	if hi > lo {
		_ = unix.Madvise(b[lo:hi], unix.MADV_POPULATE_WRITE)
	}
}

// Make is make([]T, n) with its pages backed (Bytes).
func Make[T any](n int) []T {
	s := make([]T, n)
	if n > 0 {
		Bytes(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), n*int(unsafe.Sizeof(s[0]))))
	}
	return s
}
