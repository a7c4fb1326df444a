#include "test.h"
#include "core/vcpu_postmortem.h"

static void put_pte(uint8_t *ram, uint64_t gpa, uint64_t e)
{
    memcpy(ram + gpa, &e, sizeof(e));
}

/* A 4-level table for the kernel-text address 0xffffffff81073914: PML4 at 0x1000, PDPT
 * at 0x2000, PD at 0x3000 mapping it with a 2 MiB page, and a 4 KiB mapping for
 * 0xffffc90000009000 through a PT at 0x5000. */
TEST(postmortem_walks_guest_page_tables_and_names_the_missing_level)
{
    static uint8_t ram[0x8000];
    memset(ram, 0, sizeof(ram));
    struct guest_mem m = { 0 };
    CHECK_EQ(gmem_add_region(&m, 0, sizeof(ram), ram), 0);
    const uint64_t text = 0xffffffff81073914ull, vmalloc = 0xffffc9000000901bull;
    put_pte(ram, 0x1000 + ((text >> 39) & 511) * 8, 0x2000 | 3);
    put_pte(ram, 0x2000 + ((text >> 30) & 511) * 8, 0x3000 | 3);
    put_pte(ram, 0x3000 + ((text >> 21) & 511) * 8, 0x1000000 | 0x80 | 1);
    char text_buf[256];
    uint64_t gpa = 0;
    CHECK_EQ(vcpu_walk_page_tables(&m, 0x1000, false, text, text_buf, sizeof(text_buf), &gpa), 0);
    CHECK_EQ(gpa, 0x1000000 + (text & 0x1FFFFF));
    CHECK(strstr(text_buf, "L2 0x1000081") != NULL);

    put_pte(ram, 0x1000 + ((vmalloc >> 39) & 511) * 8, 0x4000 | 3);
    put_pte(ram, 0x4000 + ((vmalloc >> 30) & 511) * 8, 0x6000 | 3);
    put_pte(ram, 0x6000 + ((vmalloc >> 21) & 511) * 8, 0x5000 | 3);
    put_pte(ram, 0x5000 + ((vmalloc >> 12) & 511) * 8, 0x7000 | 3);
    CHECK_EQ(vcpu_walk_page_tables(&m, 0x1000, false, vmalloc, text_buf, sizeof(text_buf), &gpa), 0);
    CHECK_EQ(gpa, 0x7000 + 0x1b);

    /* the PD entry overwritten: the walk stops there and says so */
    put_pte(ram, 0x3000 + ((text >> 21) & 511) * 8, 0);
    CHECK_EQ(vcpu_walk_page_tables(&m, 0x1000, false, text, text_buf, sizeof(text_buf), &gpa), -1);
    CHECK(strstr(text_buf, "L2 0 NOT PRESENT") != NULL);
    /* a table pointer outside RAM is reported, not read */
    put_pte(ram, 0x2000 + ((text >> 30) & 511) * 8, 0x40000000 | 3);
    CHECK_EQ(vcpu_walk_page_tables(&m, 0x1000, false, text, text_buf, sizeof(text_buf), &gpa), -1);
    CHECK(strstr(text_buf, "outside RAM") != NULL);
}
