/* Receive-side scaling; see rss.h. */
#include "net/rss.h"

#include <string.h>

#include "net/offload.h"

uint32_t rss_toeplitz(const uint8_t key[RSS_KEY_SIZE], const uint8_t *in, size_t len)
{
    /* each set input bit adds the 32 key bits that start at its position */
    uint32_t hash = 0;
    uint32_t window = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 | key[3];
    for (size_t i = 0; i < len && i + 4 <= RSS_KEY_SIZE; i++) {
        uint8_t next = i + 4 < RSS_KEY_SIZE ? key[i + 4] : 0;
        for (int b = 7; b >= 0; b--) {
            if (in[i] >> b & 1)
                hash ^= window;
            window = window << 1 | (uint32_t)(next >> b & 1);
        }
    }
    return hash;
}

/* The hash input of the IP packet (version VERSION) at IP, LEN bytes, under TYPES:
 * its length, 0 if none. */
static size_t hash_input(uint32_t types, uint8_t version, const uint8_t *ip, size_t len,
                         uint8_t in[36])
{
    if (version == 4 && len >= 20 && ip[0] >> 4 == 4) {
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        if (ihl < 20 || ihl > len)
            return 0;
        memcpy(in, ip + 12, 8);
        bool fragment = (ip[6] & 0x3F) || ip[7]; /* more fragments, or an offset */
        if ((types & RSS_HASH_TCP_IPV4) && ip[9] == 6 && !fragment && len >= ihl + 4) {
            memcpy(in + 8, ip + ihl, 4);
            return 12;
        }
        return types & RSS_HASH_IPV4 ? 8 : 0;
    }
    if (version == 6 && len >= 40 && ip[0] >> 4 == 6) {
        memcpy(in, ip + 8, 32);
        if ((types & RSS_HASH_TCP_IPV6) && ip[6] == 6 && len >= 44) {
            memcpy(in + 32, ip + 40, 4);
            return 36;
        }
        return types & RSS_HASH_IPV6 ? 32 : 0;
    }
    return 0;
}

unsigned rss_queue(const struct rss_config *c, const uint8_t *frame, uint32_t len, uint32_t *hash)
{
    *hash = 0;
    uint32_t l3;
    uint8_t version;
    if (!c->enabled || c->table_size == 0 || pkt_l3_start(frame, len, &l3, &version))
        return 0;
    uint8_t in[36];
    size_t n = hash_input(c->hash_types, version, frame + l3, len - l3, in);
    if (n == 0)
        return 0;
    *hash = rss_toeplitz(c->key, in, n);
    return c->table[*hash & (c->table_size - 1)];
}
