#include "test.h"

#include "cli/run_options.h"

static int parse(struct vm_config *cfg, char *err, int argc, char **argv)
{
    return run_options_parse(argc, argv, cfg, err, 256);
}

#define ARGS(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define NARGS(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))

TEST(run_options_defaults_and_values)
{
    struct vm_config cfg;
    char err[256];
    CHECK_EQ(parse(&cfg, err, NARGS("--kernel", "k"), ARGS("--kernel", "k")), 0);
    CHECK_STR(cfg.kernel, "k");
    CHECK_EQ(cfg.memory, 512ull << 20);
    CHECK_EQ(cfg.cpus, 1);
    CHECK_STR(cfg.console, "stdio");
    CHECK_EQ(cfg.on_reboot, REBOOT_RESTART);

    CHECK_EQ(parse(&cfg, err, NARGS("--kernel", "k", "--initrd", "i", "--memory", "2G", "--cpus", "4",
                                    "--cmdline", "quiet", "--console", "file:/tmp/x", "--on-reboot", "exit"),
                   ARGS("--kernel", "k", "--initrd", "i", "--memory", "2G", "--cpus", "4",
                        "--cmdline", "quiet", "--console", "file:/tmp/x", "--on-reboot", "exit")), 0);
    CHECK_EQ(cfg.memory, 2ull << 30);
    CHECK_EQ(cfg.cpus, 4);
    CHECK_STR(cfg.initrd, "i");
    CHECK_STR(cfg.cmdline, "quiet");
    CHECK_EQ(cfg.on_reboot, REBOOT_EXIT);
    CHECK_EQ(parse(&cfg, err, NARGS("--help"), ARGS("--help")), 1);
}

TEST(run_options_reject_bad_values_with_a_reason)
{
    struct vm_config cfg;
    char err[256];
    struct { int argc; char **argv; const char *why; } bad[] = {
        { NARGS("--memory", "1G"), ARGS("--memory", "1G"), "no kernel" },
        { NARGS("--kernel", "k", "--memory", "0"), ARGS("--kernel", "k", "--memory", "0"), "out of range" },
        { NARGS("--kernel", "k", "--memory", "9000T"), ARGS("--kernel", "k", "--memory", "9000T"), "out of range" },
        { NARGS("--kernel", "k", "--memory", "lots"), ARGS("--kernel", "k", "--memory", "lots"), "not a size" },
        { NARGS("--kernel", "k", "--memory", "100000K"), ARGS("--kernel", "k", "--memory", "100000K"), "MiB" },
        { NARGS("--kernel", "k", "--cpus", "0"), ARGS("--kernel", "k", "--cpus", "0"), "from 1" },
        { NARGS("--kernel", "k", "--cpus", "2x"), ARGS("--kernel", "k", "--cpus", "2x"), "from 1" },
        { NARGS("--kernel", "k", "--cpus", "100000"), ARGS("--kernel", "k", "--cpus", "100000"), "from 1" },
        { NARGS("--kernel", "k", "--console", "tcp:1"), ARGS("--kernel", "k", "--console", "tcp:1"), "stdio" },
        { NARGS("--kernel", "k", "--on-reboot", "pause"), ARGS("--kernel", "k", "--on-reboot", "pause"), "restart" },
        { NARGS("--kernel", "k", "--frobnicate"), ARGS("--kernel", "k", "--frobnicate"), "unknown option" },
        { NARGS("--kernel"), ARGS("--kernel"), "needs a value" },
        { NARGS("--kernel", "k", "extra"), ARGS("--kernel", "k", "extra"), "unexpected" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ(parse(&cfg, err, bad[i].argc, bad[i].argv), -1);
        if (!strstr(err, bad[i].why))
            test_fail(__FILE__, __LINE__, "case %zu: '%s' does not say '%s'", i, err, bad[i].why);
    }
}

TEST(run_options_disks)
{
    struct vm_config cfg;
    char err[256];
    char a[] = "a.img", b[] = "b.vhdx,ro,controller=1,lun=7", c[] = "c.vhd,controller=1";
    char d[] = "d.img,lun=0";
    CHECK_EQ(parse(&cfg, err, NARGS("--kernel", "k", "--disk", a, "--disk", b, "--disk", c, "--disk", d),
                   ARGS("--kernel", "k", "--disk", a, "--disk", b, "--disk", c, "--disk", d)), -1);
    CHECK(strstr(err, "LUN 0 is already taken") != NULL);
    char a2[] = "a.img", b2[] = "b.vhdx,ro,controller=1,lun=7", c2[] = "c.vhd,controller=1";
    CHECK_EQ(parse(&cfg, err, NARGS("--kernel", "k", "--disk", a2, "--disk", b2, "--disk", c2),
                   ARGS("--kernel", "k", "--disk", a2, "--disk", b2, "--disk", c2)), 0);
    CHECK_EQ(cfg.ndisks, 3);
    CHECK_STR(cfg.disks[0].path, "a.img");
    CHECK_EQ(cfg.disks[0].controller, 0);
    CHECK_EQ(cfg.disks[0].lun, 0);
    CHECK(!cfg.disks[0].ro);
    CHECK_STR(cfg.disks[1].path, "b.vhdx");
    CHECK(cfg.disks[1].ro);
    CHECK_EQ(cfg.disks[1].controller, 1);
    CHECK_EQ(cfg.disks[1].lun, 7);
    CHECK_EQ(cfg.disks[2].controller, 1);
    CHECK_EQ(cfg.disks[2].lun, 0); /* first free */
    char a3[] = "a.img", iso[] = "x.iso";
    CHECK_EQ(parse(&cfg, err, NARGS("--kernel", "k", "--disk", a3, "--dvd", iso),
                   ARGS("--kernel", "k", "--disk", a3, "--dvd", iso)), 0);
    CHECK_EQ(cfg.ndisks, 2);
    CHECK(cfg.disks[1].dvd);
    CHECK(cfg.disks[1].ro);
    CHECK_EQ(cfg.disks[1].lun, 1);
    CHECK(!cfg.disks[0].dvd);
    const char *bad[] = { "x,controller=4", "x,lun=64", "x,lun=-1", "x,rw", ",ro", "x,controller=" };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "%s", bad[i]);
        CHECK_EQ(parse(&cfg, err, NARGS("--kernel", "k", "--disk", spec),
                       ARGS("--kernel", "k", "--disk", spec)), -1);
        CHECK(err[0] != '\0');
    }
}
