/*
 * harness.h — the tests' tiny assertion harness (in the spirit of Redis'
 * testhelp.h): CHECK records a failure and goes on, REQUIRE stops the
 * test case, and nk_test_main prints "N passed, N failed" and sets the
 * exit status.
 */
#ifndef NK_TEST_HARNESS_H
#define NK_TEST_HARNESS_H

#include "nnkit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern int nk_t_failed_checks;
extern const char *nk_t_current;

void nk_t_fail(const char *file, int line, const char *fmt, ...);

#define CHECK(c)                                                         \
    do {                                                                 \
        if (!(c))                                                        \
            nk_t_fail(__FILE__, __LINE__, "CHECK(%s)", #c);              \
    } while (0)
#define CHECKF(c, ...)                                                   \
    do {                                                                 \
        if (!(c))                                                        \
            nk_t_fail(__FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)
#define REQUIRE(c)                                                       \
    do {                                                                 \
        if (!(c)) {                                                      \
            nk_t_fail(__FILE__, __LINE__, "REQUIRE(%s)", #c);            \
            return;                                                      \
        }                                                                \
    } while (0)
/* A library call that must succeed; prints nk_errmsg otherwise. */
#define CHECK_OK(ctx, call)                                              \
    do {                                                                 \
        nk_status st_ = (call);                                          \
        if (st_ != NK_OK)                                                \
            nk_t_fail(__FILE__, __LINE__, "%s -> %s: %s", #call,         \
                      nk_status_name(st_), nk_errmsg(ctx));              \
    } while (0)
#define REQUIRE_OK(ctx, call)                                            \
    do {                                                                 \
        nk_status st_ = (call);                                          \
        if (st_ != NK_OK) {                                              \
            nk_t_fail(__FILE__, __LINE__, "%s -> %s: %s", #call,         \
                      nk_status_name(st_), nk_errmsg(ctx));              \
            return;                                                      \
        }                                                                \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                            \
    do {                                                                 \
        double a_ = (a), b_ = (b);                                       \
        if (!(fabs(a_ - b_) <= (tol)))                                   \
            nk_t_fail(__FILE__, __LINE__, "%s = %g, expected %s = %g",   \
                      #a, a_, #b, b_);                                   \
    } while (0)

typedef struct nk_test_case {
    const char *name;
    void (*fn)(void);
} nk_test_case;

/* Run all cases (or those named in argv), print a summary line, return
 * the exit status. */
int nk_test_main(int argc, char **argv, const nk_test_case *cases, int n);

/* A fresh directory under NNKIT_TEST_TMP (or /tmp) for this test. */
const char *nk_test_tmpdir(const char *name);

#define NK_TESTS(...)                                                    \
    int main(int argc, char **argv)                                      \
    {                                                                    \
        static const nk_test_case cases_[] = {__VA_ARGS__};              \
        return nk_test_main(argc, argv, cases_,                          \
                            (int)(sizeof cases_ / sizeof cases_[0]));    \
    }
#define T(fn) {#fn, fn}

#endif
