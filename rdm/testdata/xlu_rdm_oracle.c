/*
 * Oracle for rdm.Xl417Rdm: runs Xen 4.17's own xlu_rdm_parse (libxlutil)
 * on each line of stdin and prints
 *   rc strategy policy <TAB> what libxlutil printed
 * The libxl_rdm_reserve is pre-filled with 0x5a5a5a5a so that a field the
 * parser never wrote shows up as "unset" (xl itself leaves it
 * uninitialised). Built and run by setting_test.go when libxen-dev is
 * installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxlutil.h>

#define SENTINEL 0x5a5a5a5a

int main(void)
{
    char line[4096];
    char *out;
    size_t outlen;

    while (fgets(line, sizeof(line), stdin)) {
        FILE *report;
        XLU_Config *cfg;
        libxl_rdm_reserve rdm;
        int rc;

        line[strcspn(line, "\n")] = '\0';
        report = open_memstream(&out, &outlen);
        cfg = xlu_cfg_init(report, "oracle");
        memset(&rdm, 0x5a, sizeof(rdm));
        rc = xlu_rdm_parse(cfg, &rdm, line);
        xlu_cfg_destroy(cfg);
        fclose(report);
        printf("%d ", rc);
        if ((unsigned)rdm.strategy == SENTINEL) printf("unset "); else printf("%d ", (int)rdm.strategy);
        if ((unsigned)rdm.policy == SENTINEL) printf("unset"); else printf("%d", (int)rdm.policy);
        printf("\t%s\n", out);
        free(out);
    }
    return 0;
}
