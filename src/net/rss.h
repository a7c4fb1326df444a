/* Receive-side scaling as NDIS defines it: which receive queue a frame belongs to.
 * A Toeplitz hash over the flow's addresses (and TCP ports) under a 40-byte secret
 * key, the low bits of the hash indexing a table of queue numbers. The guest chooses
 * key, table and hash types (OID_GEN_RECEIVE_SCALE_PARAMETERS); the host hashes each
 * frame it receives for the guest. Hash inputs, as NDIS orders them: source address,
 * destination address, then (TCP) source port, destination port, all in network order. */
#ifndef VIRIDIAN_NET_RSS_H
#define VIRIDIAN_NET_RSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RSS_KEY_SIZE 40   /* NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2 */
#define RSS_TABLE_MAX 128 /* entries; NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2 / 4 */

/* Hash types (NDIS_HASH_* bits of NDIS_RECEIVE_SCALE_PARAMETERS.HashInformation). */
#define RSS_HASH_FUNC_TOEPLITZ 0x00000001u
#define RSS_HASH_IPV4 0x00000100u
#define RSS_HASH_TCP_IPV4 0x00000200u
#define RSS_HASH_IPV6 0x00000400u
#define RSS_HASH_TCP_IPV6 0x00001000u
#define RSS_HASH_TYPES (RSS_HASH_IPV4 | RSS_HASH_TCP_IPV4 | RSS_HASH_IPV6 | RSS_HASH_TCP_IPV6)

struct rss_config {
    bool enabled;
    uint32_t hash_types;     /* RSS_HASH_* types in use */
    uint8_t key[RSS_KEY_SIZE];
    uint32_t table_size;     /* a power of two, 1..RSS_TABLE_MAX */
    uint8_t table[RSS_TABLE_MAX];
};

/* The Toeplitz hash of LEN bytes (LEN <= RSS_KEY_SIZE - 4) under KEY. */
uint32_t rss_toeplitz(const uint8_t key[RSS_KEY_SIZE], const uint8_t *in, size_t len);
/* The queue for an Ethernet frame (an 802.1Q tag is skipped): the table entry its hash
 * selects, or queue 0 when RSS is off or no enabled hash type applies (not IP, an
 * IPv6 header with extension headers is hashed over the addresses only, an IPv4
 * fragment over the addresses only). *HASH gets the hash (0 if none). */
unsigned rss_queue(const struct rss_config *c, const uint8_t *frame, uint32_t len, uint32_t *hash);

#endif
