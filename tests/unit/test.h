/* A small unit-test framework: TEST() registers a function, CHECK*() record failures
 * without stopping the test. The runner prints one PASS/FAIL line per test and the
 * closing line "N passed, N failed" that tests/run and CI read. */
#ifndef VIRIDIAN_TEST_H
#define VIRIDIAN_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A scratch directory private to the running test binary, removed at exit. */
const char *test_tmpdir(void);

#define TEST(name)                                                            \
    static void name(void);                                                   \
    __attribute__((constructor)) static void register_##name(void)            \
    {                                                                         \
        test_register(#name, __FILE__, name);                                 \
    }                                                                         \
    static void name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);       \
        if (check_a_ != check_b_)                                             \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b,   \
                      check_a_, check_b_);                                    \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *check_a_ = (a), *check_b_ = (b);                          \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0)        \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a,   \
                      #b, check_a_ ? check_a_ : "(null)",                     \
                      check_b_ ? check_b_ : "(null)");                        \
    } while (0)

#endif
