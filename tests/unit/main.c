/* Unit-test runner: runs every registered test (or those whose name contains argv[1]). */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_TESTS 2048

struct test_entry {
    const char *name;
    const char *file;
    test_fn fn;
};

static struct test_entry tests[MAX_TESTS];
static int test_count;
static int current_failures;
static char tmpdir[256];

void test_register(const char *name, const char *file, test_fn fn)
{
    if (test_count == MAX_TESTS) {
        fprintf(stderr, "too many unit tests\n");
        exit(2);
    }
    tests[test_count++] = (struct test_entry){ name, file, fn };
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    current_failures++;
}

const char *test_tmpdir(void)
{
    return tmpdir;
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    const char *filter = argc > 1 ? argv[1] : NULL;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/viridian-unit-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    atexit(remove_tmpdir);
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (int i = 0; i < test_count; i++) {
        const char *base = strrchr(tests[i].file, '/');
        base = base ? base + 1 : tests[i].file;
        if (filter && !strstr(tests[i].name, filter) && !strstr(base, filter))
            continue;
        current_failures = 0;
        tests[i].fn();
        printf("%s unit/%s:%s\n", current_failures ? "FAIL" : "PASS", base, tests[i].name);
        if (current_failures)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
