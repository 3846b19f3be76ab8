package xl

// ParserQuirksIn names the libxlutil releases whose parsers xlpt's
// "xl would silently ..." messages describe. The quirks were found in
// 4.17 (Debian 12) and hold in 4.20 (Debian 13): libxlu_pci.c (the spec
// and rdm= parsers) and libxlu_cfg*.c (xl.cfg) did not change between
// RELEASE-4.17.7 and RELEASE-4.20.4, and the differential tests run
// against both libraries (make test, make test-4.20). A release that
// fixes one gets its own message here, keyed by the version found at
// run time.
const ParserQuirksIn = "4.17 and 4.20"
