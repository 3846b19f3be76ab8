/*
 * portspin PORT: read one I/O port of the guest, forever, through /dev/port
 * (each read is an IN instruction: a VM exit that Xen looks up in its
 * domain's I/O handlers before it forwards it to QEMU). The Xen 4.20 panic
 * reproducer (scripts/testbed/repro/) runs it on QEMU's ACPI PCI hot-plug
 * port 0xae04, which the guest's own hot-plug handler reads, to widen the
 * window in which a hot-plug's first MSI-X device assignment races the
 * guest's port I/O. Static, no libc beyond the system calls.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned char b;
	off_t port;
	int fd;

	if (argc != 2)
		return 2;
	port = strtol(argv[1], NULL, 0);
	fd = open("/dev/port", O_RDONLY);
	if (fd < 0)
		return 1;
	for (;;)
		if (pread(fd, &b, 1, port) != 1)
			return 1;
}
