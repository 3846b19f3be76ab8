// Package e2e holds the end-to-end tests of xlpt on a real Xen 4.17 host:
// the testbed of scripts/testbed, booted in QEMU. They carry the build tag
// e2e, so that plain go test does not boot anything:
//
//	make e2e                                  build the testbed, run them all
//	go test -tags e2e -v -run TestPV ./e2e/   one scenario (testbed built first)
package e2e
