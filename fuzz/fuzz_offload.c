/* The offload translation against hostile frames: input = u32 checksum PPI, u32 LSO
 * PPI, a 10-byte virtio_net_hdr, then a frame. The frame goes through
 * netvsp_tx_offload (as the guest sends it, PPIs as given) and, separately, through
 * netvsp_rx_offload (as a TAP gives it, with the header) and the packet helpers; any
 * header produced must stay inside the frame, and nothing is claimed verified that was
 * neither checked by the host nor finished here. */
#include <stdlib.h>
#include <string.h>

#include "net/offload.h"
#include "vsp/netvsp_offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct virtio_net_hdr in;
    if (size < 8 + sizeof(in) || size - 8 - sizeof(in) > 70000)
        return 0;
    uint32_t csum, lso;
    memcpy(&csum, data, 4);
    memcpy(&lso, data + 4, 4);
    memcpy(&in, data + 8, sizeof(in));
    const uint8_t *frame = data + 8 + sizeof(in);
    uint32_t flen = (uint32_t)(size - 8 - sizeof(in));
    uint8_t *f = malloc(flen ? flen : 1);
    if (!f)
        return 0;

    memcpy(f, frame, flen);
    struct rndis_pkt_info info = { .has_csum = csum & 1, .csum = csum >> 1 << 1,
                                   .has_lso = lso & 1, .lso = lso };
    struct virtio_net_hdr vh;
    uint32_t len = flen;
    if (netvsp_tx_offload(f, &len, &info, &vh) == 0) {
        if (len > flen)
            abort();
        if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
            (uint32_t)vh.csum_start + vh.csum_offset + 2 > len)
            abort();
        if (vh.gso_type && (vh.hdr_len > len || vh.gso_size == 0))
            abort();
    }

    memcpy(f, frame, flen);
    int64_t ppi = netvsp_rx_offload(f, flen, &in, in.flags & 0x80);
    if (ppi > 0 && !(in.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)))
        abort(); /* nothing was checked or finished */
    struct pkt_layout l;
    if (pkt_layout_parse(f, flen, &l) == 0 && pkt_csum_ok(f, &l) && l.l4_off + l.l4_len > flen)
        abort();
    free(f);
    return 0;
}
