#include "test.h"
#include "cli/commands.h"
#include "disk/disk.h"

#include <stdio.h>
#include <unistd.h>

static int run(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[6] = { (char *)"disk", (char *)a0, (char *)a1, (char *)a2, (char *)a3, (char *)a4 };
    int argc = 1;
    while (argc < 6 && argv[argc])
        argc++;
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w"); /* the error lines are not the test's output */
    int rc = cli_disk(argc, argv);
    fclose(stderr);
    stderr = saved;
    return rc;
}

TEST(disk_cli_option_errors)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cli.vhd", test_tmpdir());
    CHECK_EQ(run("create", path, "0", NULL, NULL), 2);
    CHECK_EQ(run("create", path, "12Q", NULL, NULL), 2);
    CHECK_EQ(run("create", path, "1M", "--type", "sparse"), 2);
    CHECK_EQ(run("create", path, "1M", "--type", NULL), 2);
    CHECK_EQ(run("create", path, "1M", "--bogus", NULL), 2);
    CHECK_EQ(run("create", path, "1M", "--format", "qcow2"), 2);
    CHECK_EQ(run("create", path, "1M", "--sector-size", "1000"), 2);
    CHECK_EQ(run("create", path, "1M", "--block-size", "3K"), 2);
    CHECK_EQ(run("create", path, "1M", "extra", NULL), 2);
    CHECK_EQ(run("frob", NULL, NULL, NULL, NULL), 2);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ(run("create", path, "3000G", NULL, NULL), 1); /* parsed, but too big for VHD */
    CHECK(access(path, F_OK) != 0);
}

TEST(disk_cli_create_uses_size_parser)
{
    char path[512];
    struct disk *d;
    char err[DISK_ERR_LEN];
    snprintf(path, sizeof(path), "%s/cli-ok.vhd", test_tmpdir());
    CHECK_EQ(run("create", path, "1.5M", "--block-size=512K", NULL), 0);
    CHECK_EQ(disk_open(path, DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &d, err), 0);
    if (d) {
        CHECK_EQ(d->info.virtual_size, 3u << 19);
        CHECK_EQ(d->info.block_size, 512u << 10);
        disk_close(d);
    }
    CHECK_EQ(run("create", path, "1M", NULL, NULL), 1); /* exists */
    CHECK_EQ(run("resize", path, "2M", NULL, NULL), 0);
    CHECK_EQ(disk_open(path, DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &d, err), 0);
    if (d) {
        CHECK_EQ(d->info.virtual_size, 2u << 20);
        disk_close(d);
    }
}
