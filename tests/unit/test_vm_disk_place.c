/* The LUN table shared by `viridian run --disk` and hot add (vm_disk_place). */
#include <string.h>

#include "core/vm_storage.h"
#include "test.h"

TEST(vm_disk_place_lowest_free_and_taken)
{
    static struct vm_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct vm_disk *d = &cfg.disks[0];
    CHECK_EQ(vm_disk_place(&cfg, d, false), 0);
    CHECK_EQ(d->lun, 0u);
    cfg.ndisks = 1;
    d = &cfg.disks[1];
    d->lun = 2;
    CHECK_EQ(vm_disk_place(&cfg, d, true), 0);
    cfg.ndisks = 2;
    d = &cfg.disks[2];
    CHECK_EQ(vm_disk_place(&cfg, d, false), 0);
    CHECK_EQ(d->lun, 1u); /* the hole */
    d->lun = 2;
    CHECK_EQ(vm_disk_place(&cfg, d, true), VM_PLACE_TAKEN);
    d->lun = VM_MAX_LUNS;
    CHECK_EQ(vm_disk_place(&cfg, d, true), VM_PLACE_TAKEN);
    d->controller = 1; /* another controller: LUN 0 is free there */
    CHECK_EQ(vm_disk_place(&cfg, d, false), 0);
    CHECK_EQ(d->lun, 0u);
    /* a full controller */
    memset(&cfg, 0, sizeof(cfg));
    for (unsigned i = 0; i < VM_MAX_LUNS; i++)
        cfg.disks[i].lun = i;
    cfg.ndisks = VM_MAX_LUNS;
    CHECK_EQ(vm_disk_place(&cfg, &cfg.disks[VM_MAX_LUNS], false), VM_PLACE_FULL);
}
