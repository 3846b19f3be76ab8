// Package dist holds what the package installs beside the binary: the
// systemd unit (systemd/xlpt-restore.service). Its tests check how make
// install and make deb install and enable it; it has no Go code.
package dist
