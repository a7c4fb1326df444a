/* merge: copy what a differencing disk holds itself into its parent, through the
 * parent's own write path (so it works whatever the parent's format, including a
 * parent that is itself differencing). */
#include "disk/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_CHUNK (4u << 20)

int disk_merge(const char *child_path, struct progress *prog, uint64_t *merged,
               char err[DISK_ERR_LEN])
{
    struct disk *child, *parent;
    char parent_path[4096];
    *merged = 0;
    /* Opening the whole chain verifies the parent's identity. */
    int rc = disk_open(child_path, DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &child, err);
    if (rc)
        return rc;
    if (!child->parent) {
        snprintf(err, DISK_ERR_LEN, "%s: not a differencing disk", child_path);
        disk_close(child);
        return -EINVAL;
    }
    snprintf(parent_path, sizeof(parent_path), "%s", child->parent->path);
    if ((rc = disk_open(parent_path, DISK_FORMAT_AUTO, 0, &parent, err))) {
        disk_close(child);
        return rc;
    }
    char *buf = malloc(MERGE_CHUNK);
    uint64_t size = child->info.virtual_size;
    if (!buf)
        rc = -ENOMEM;
    for (uint64_t off = 0; off < size && !rc;) {
        uint64_t n;
        progress_update(prog, off, size);
        int kind = disk_extent(child, off, size - off, &n);
        if (kind < 0) {
            rc = kind;
            snprintf(err, DISK_ERR_LEN, "%s", disk_last_error(child));
            break;
        }
        if (kind != DISK_EXTENT_DATA) {
            off += n;
            continue;
        }
        for (uint64_t end = off + n; off < end && !rc;) {
            size_t len = (size_t)(end - off < MERGE_CHUNK ? end - off : MERGE_CHUNK);
            if ((rc = disk_read(child, off, buf, len)))
                snprintf(err, DISK_ERR_LEN, "%s", disk_last_error(child));
            else if ((rc = disk_write(parent, off, buf, len)))
                snprintf(err, DISK_ERR_LEN, "%s", disk_last_error(parent));
            off += len;
            *merged += len;
        }
    }
    progress_update(prog, size, size);
    progress_done(prog);
    free(buf);
    if (!rc && (rc = disk_flush(parent)))
        snprintf(err, DISK_ERR_LEN, "%s", disk_last_error(parent));
    disk_close(parent);
    disk_close(child);
    return rc;
}
