/* --nic parsing, MAC addresses (parsed, generated stably per VM name and index). */
#include "test.h"

#include "cli/run_options.h"
#include "core/vm_net.h"

#define ARGS(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define NARGS(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))

TEST(vm_nic_mac_parse_and_default)
{
    uint8_t m[6], m2[6];
    CHECK_EQ(vm_nic_parse_mac("00:15:5D:0a:0B:ff", m), 0);
    CHECK(m[0] == 0 && m[1] == 0x15 && m[2] == 0x5d && m[3] == 0x0a && m[4] == 0x0b && m[5] == 0xff);
    CHECK_EQ(vm_nic_parse_mac("02-00-00-00-00-01", m), 0);
    CHECK_EQ(vm_nic_parse_mac("01:00:5e:00:00:01", m), -1);  /* multicast */
    CHECK_EQ(vm_nic_parse_mac("00:00:00:00:00:00", m), -1);
    CHECK_EQ(vm_nic_parse_mac("00:15:5d:00:00", m), -1);
    CHECK_EQ(vm_nic_parse_mac("00:15:5d:00:00:011", m), -1);
    CHECK_EQ(vm_nic_parse_mac("00:15-5d:00:00:01", m), -1);
    CHECK_EQ(vm_nic_parse_mac("00:15:5d:00:0g:01", m), -1);
    CHECK_EQ(vm_nic_parse_mac("", m), -1);
    /* generated: Hyper-V's OUI, the same every time, different per name and index */
    vm_nic_default_mac("web1", 0, m);
    CHECK(m[0] == 0x00 && m[1] == 0x15 && m[2] == 0x5d);
    vm_nic_default_mac("web1", 0, m2);
    CHECK(!memcmp(m, m2, 6));
    vm_nic_default_mac("web1", 1, m2);
    CHECK(memcmp(m, m2, 6) != 0);
    vm_nic_default_mac("web2", 0, m2);
    CHECK(memcmp(m, m2, 6) != 0);
    char s[18];
    vm_nic_format_mac(m, s);
    CHECK_EQ(strlen(s), 17);
    CHECK(!strncmp(s, "00:15:5d:", 9));
}

TEST(run_options_nics)
{
    struct vm_config cfg;
    char err[256];
    char a[] = "switch=lan", b[] = "switch=dmz,mac=02:00:00:00:00:07,vlan=42,spoofing=allow";
    CHECK_EQ(run_options_parse(NARGS("--kernel", "k", "--nic", a, "--name", "vm7", "--nic", b),
                               ARGS("--kernel", "k", "--nic", a, "--name", "vm7", "--nic", b), &cfg,
                               err, sizeof(err)), 0);
    CHECK_EQ(cfg.nnics, 2);
    CHECK_STR(cfg.nics[0].switch_name, "lan");
    CHECK_EQ(cfg.nics[0].tap.fd, -1);
    CHECK_EQ(cfg.nics[0].vlan, 0);
    CHECK(!cfg.nics[0].allow_spoofing);
    uint8_t want[6];
    vm_nic_default_mac("vm7", 0, want); /* the final --name counts, wherever it is */
    CHECK(!memcmp(cfg.nics[0].mac, want, 6));
    CHECK_STR(cfg.nics[1].switch_name, "dmz");
    CHECK_EQ(cfg.nics[1].vlan, 42);
    CHECK(cfg.nics[1].allow_spoofing);
    CHECK_EQ(cfg.nics[1].mac[5], 7);

    struct { char spec[64]; const char *why; } bad[] = {
        { "mac=02:00:00:00:00:01", "needs switch=NAME" },
        { "switch=a,vlan=0", "VLAN ID from 1 to 4094" },
        { "switch=a,vlan=4095", "VLAN ID from 1 to 4094" },
        { "switch=a,mac=03:00:00:00:00:01", "not a unicast MAC" },
        { "switch=a,speed=10", "unknown setting 'speed=10'" },
        { "switch=a/b", "--nic:" },
        { "switch=a,spoofing=maybe", "unknown setting" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ(run_options_parse(NARGS("--kernel", "k", "--nic", bad[i].spec),
                                   ARGS("--kernel", "k", "--nic", bad[i].spec), &cfg, err, sizeof(err)), -1);
        CHECK(strstr(err, bad[i].why) != NULL);
    }
    char d1[] = "switch=a,mac=02:00:00:00:00:01", d2[] = "switch=b,mac=02:00:00:00:00:01";
    CHECK_EQ(run_options_parse(NARGS("--kernel", "k", "--nic", d1, "--nic", d2),
                               ARGS("--kernel", "k", "--nic", d1, "--nic", d2), &cfg, err, sizeof(err)), -1);
    CHECK(strstr(err, "both have MAC 02:00:00:00:00:01") != NULL);
    char many[9][16];
    char *argv[3 + 18 + 1] = { "run", "--kernel", "k" };
    for (int i = 0; i < 9; i++) {
        snprintf(many[i], sizeof(many[i]), "switch=s%d", i);
        argv[3 + 2 * i] = "--nic";
        argv[4 + 2 * i] = many[i];
    }
    CHECK_EQ(run_options_parse(21, argv, &cfg, err, sizeof(err)), -1);
    CHECK(strstr(err, "at most 8 NICs") != NULL);
}
