/* The CMOS real-time clock and NVRAM at ports 0x70/0x71 (MC146818). The clock shows the
 * host's UTC time plus whatever offset the guest sets by writing the time registers;
 * BCD or binary and 12/24-hour modes follow register B as the guest programs it. */
#ifndef VIRIDIAN_DEV_RTC_H
#define VIRIDIAN_DEV_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RTC_PORT 0x70

struct rtc {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t cmos[128];
    int64_t offset_sec;     /* guest time minus host time */
    time_t (*host_time)(void);
};

void rtc_init(struct rtc *r);
void rtc_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size);

#endif
