/*
 * cfloor: gofloor's start-up in C. It links libxenlight as xl does, opens
 * a libxl context with a logger and closes it, and does nothing else.
 * scripts/bench/testbed.sh times it against gofloor, which does the same
 * from Go: the difference is what the language costs to start on the
 * testbed, before any work.
 */
#include <stdio.h>
#include <libxl.h>
#include <xentoollog.h>

int main(void)
{
    xentoollog_logger *lg = (xentoollog_logger *)xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
    libxl_ctx *ctx;

    if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, lg)) {
        fprintf(stderr, "cfloor: libxl_ctx_alloc failed\n");
        return 1;
    }
    libxl_ctx_free(ctx);
    xtl_logger_destroy(lg);
    return 0;
}
