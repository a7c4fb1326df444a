/* Virtual switch definitions: name rules, JSON round trip and rejection of bad files,
 * the state directory, and listing (no bridges are touched here). */
#include "test.h"

#include "net/switch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

TEST(switch_name_rules)
{
    char err[256];
    CHECK_EQ(vswitch_name_check("a", err, sizeof(err)), 0);
    CHECK_EQ(vswitch_name_check("Lab_net-12AB", err, sizeof(err)), 0); /* 12 chars */
    CHECK_EQ(vswitch_name_check("abcdefghijklm", err, sizeof(err)), -ENAMETOOLONG);
    CHECK(strstr(err, "too long") != NULL);
    CHECK_EQ(vswitch_name_check("", err, sizeof(err)), -EINVAL);
    CHECK_EQ(vswitch_name_check("a/b", err, sizeof(err)), -EINVAL);
    CHECK_EQ(vswitch_name_check("a b", err, sizeof(err)), -EINVAL);
    CHECK_EQ(vswitch_name_check("..", err, sizeof(err)), -EINVAL);
    CHECK_EQ(vswitch_name_check("-x", err, sizeof(err)), -EINVAL);
    CHECK_EQ(vswitch_name_check("a\xc3\xa9", err, sizeof(err)), -EINVAL);
}

TEST(switch_bridge_names_fit_ifnamsiz)
{
    struct vswitch sw = { .name = "abcdefghijkl", .type = VSWITCH_PRIVATE };
    char br[IFNAMSIZ];
    vswitch_bridge_name(&sw, br);
    CHECK_STR(br, "vs-abcdefghijkl");
    sw.type = VSWITCH_INTERNAL;
    vswitch_bridge_name(&sw, br);
    CHECK_STR(br, "abcdefghijkl");
    sw.type = VSWITCH_EXTERNAL;
    vswitch_bridge_name(&sw, br);
    CHECK_STR(br, "vs-abcdefghijkl");
}

TEST(switch_type_names)
{
    enum vswitch_type t;
    CHECK_EQ(vswitch_type_parse("external", &t), 0);
    CHECK_EQ(t, VSWITCH_EXTERNAL);
    CHECK_EQ(vswitch_type_parse("private", &t), 0);
    CHECK_EQ(t, VSWITCH_PRIVATE);
    CHECK_EQ(vswitch_type_parse("Internal", &t), -EINVAL);
    CHECK_STR(vswitch_type_name(VSWITCH_INTERNAL), "internal");
}

TEST(switch_json_round_trip)
{
    struct vswitch in = { .name = "ext0", .type = VSWITCH_EXTERNAL, .nic = "eth1" }, out;
    char err[256];
    char *text = vswitch_to_json(&in);
    CHECK(text != NULL);
    CHECK_EQ(vswitch_from_json(text, &out, err, sizeof(err)), 0);
    CHECK_STR(out.name, "ext0");
    CHECK_EQ(out.type, VSWITCH_EXTERNAL);
    CHECK_STR(out.nic, "eth1");
    free(text);
    struct vswitch pv = { .name = "p", .type = VSWITCH_PRIVATE };
    text = vswitch_to_json(&pv);
    CHECK(strstr(text, "nic") == NULL);
    CHECK_EQ(vswitch_from_json(text, &out, err, sizeof(err)), 0);
    CHECK_EQ(out.type, VSWITCH_PRIVATE);
    CHECK_STR(out.nic, "");
    free(text);
}

TEST(switch_json_rejects_bad_definitions)
{
    static const char *const bad[] = {
        "", "[]", "{", "42", "{\"type\":\"internal\"}", "{\"name\":\"a\"}",
        "{\"name\":\"a\",\"type\":\"bogus\"}", "{\"name\":\"a/b\",\"type\":\"private\"}",
        "{\"name\":\"abcdefghijklmn\",\"type\":\"private\"}", "{\"name\":1,\"type\":\"private\"}",
        "{\"name\":\"a\",\"type\":\"external\"}", "{\"name\":\"a\",\"type\":\"external\",\"nic\":\"\"}",
        "{\"name\":\"a\",\"type\":\"external\",\"nic\":\"0123456789abcdef\"}",
        "{\"name\":\"a\",\"type\":\"external\",\"nic\":\"../x\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vswitch sw;
        char err[256] = "";
        if (vswitch_from_json(bad[i], &sw, err, sizeof(err)) == 0)
            test_fail(__FILE__, __LINE__, "accepted bad definition %s", bad[i]);
        else
            CHECK(err[0] != 0);
    }
}

TEST(switch_state_dir_and_list)
{
    char dir[512], sdir[600], err[256];
    snprintf(dir, sizeof(dir), "%s/vstate", test_tmpdir());
    const char *old = getenv("VIRIDIAN_STATE_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("VIRIDIAN_STATE_DIR", dir, 1);
    CHECK_EQ(vswitch_state_dir(sdir, sizeof(sdir)), 0);
    char want[600];
    snprintf(want, sizeof(want), "%s/switches", dir);
    CHECK_STR(sdir, want);

    struct vswitch *v;
    size_t n = 99;
    CHECK_EQ(vswitch_list(&v, &n, err, sizeof(err)), 0); /* no directory yet: none */
    CHECK_EQ(n, 0);
    free(v);

    mkdir(dir, 0755);
    mkdir(sdir, 0755);
    static const char *const files[][2] = {
        { "zeta.json", "{\"name\":\"zeta\",\"type\":\"private\"}" },
        { "alpha.json", "{\"name\":\"alpha\",\"type\":\"external\",\"nic\":\"eth0\"}" },
        { "broken.json", "{\"name\":" },                           /* skipped */
        { "other.json", "{\"name\":\"alpha\",\"type\":\"private\"}" }, /* name mismatch */
        { "notes.txt", "hello" },
    };
    for (size_t i = 0; i < 5; i++) {
        char p[700];
        snprintf(p, sizeof(p), "%s/%s", sdir, files[i][0]);
        FILE *f = fopen(p, "w");
        fputs(files[i][1], f);
        fclose(f);
    }
    CHECK_EQ(vswitch_list(&v, &n, err, sizeof(err)), 0);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(v[0].name, "alpha");
        CHECK_STR(v[0].nic, "eth0");
        CHECK_STR(v[1].name, "zeta");
    }
    free(v);
    struct vswitch sw;
    CHECK_EQ(vswitch_load("alpha", &sw, err, sizeof(err)), 0);
    CHECK_EQ(vswitch_load("nosuch", &sw, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "no switch named 'nosuch'") != NULL);
    CHECK(vswitch_load("other", &sw, err, sizeof(err)) != 0);
    CHECK(vswitch_load("../x", &sw, err, sizeof(err)) != 0);
    /* delete of an unknown switch fails cleanly without touching the network */
    CHECK_EQ(vswitch_delete("nosuch", err, sizeof(err)), -ENOENT);

    if (saved) {
        setenv("VIRIDIAN_STATE_DIR", saved, 1);
        free(saved);
    } else {
        unsetenv("VIRIDIAN_STATE_DIR");
    }
}
