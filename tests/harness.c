/*
 * harness.c — implementation of the tests' assertion harness.
 */
#include "harness.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

int nk_t_failed_checks;
const char *nk_t_current = "";

void nk_t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL [%s] %s:%d: ", nk_t_current, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    nk_t_failed_checks++;
}

int nk_test_main(int argc, char **argv, const nk_test_case *cases, int n)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                if (strcmp(argv[a], cases[i].name) == 0)
                    want = 1;
            if (!want)
                continue;
        }
        int before = nk_t_failed_checks;
        nk_t_current = cases[i].name;
        cases[i].fn();
        if (nk_t_failed_checks == before) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

const char *nk_test_tmpdir(const char *name)
{
    static char buf[4096];
    const char *root = getenv("NNKIT_TEST_TMP");
    if (!root || !*root)
        root = "/tmp";
    mkdir(root, 0755);
    snprintf(buf, sizeof buf, "%s/%s", root, name);
    mkdir(buf, 0755);
    return buf;
}
