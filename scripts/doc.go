// Package scripts holds the tests of the shell scripts beside it
// (xlpt-migrate): each runs the script with fake commands (ssh, xl,
// xlpt) first on PATH, as a host would run it. It has no Go code.
package scripts
