#include "dev/rtc.h"

#include <string.h>

#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32

#define B_24H 0x02
#define B_BINARY 0x04
#define B_SET 0x80

static time_t rtc_host_time(void)
{
    return time(NULL);
}

void rtc_init(struct rtc *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->host_time = rtc_host_time;
    r->cmos[REG_A] = 0x26;              /* 32.768 kHz time base, 1024 Hz rate */
    r->cmos[REG_B] = B_24H;             /* BCD, 24-hour */
    r->cmos[REG_D] = 0x80;              /* battery good */
}

static uint8_t to_reg(const struct rtc *r, int v)
{
    return (r->cmos[REG_B] & B_BINARY) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const struct rtc *r, uint8_t v)
{
    return (r->cmos[REG_B] & B_BINARY) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static void guest_tm(const struct rtc *r, struct tm *tm)
{
    time_t t = r->host_time() + (time_t)r->offset_sec;
    gmtime_r(&t, tm);
}

static uint8_t rtc_read_time(const struct rtc *r, uint8_t reg)
{
    struct tm tm;
    guest_tm(r, &tm);
    switch (reg) {
    case REG_SEC: return to_reg(r, tm.tm_sec);
    case REG_MIN: return to_reg(r, tm.tm_min);
    case REG_HOUR:
        if (r->cmos[REG_B] & B_24H)
            return to_reg(r, tm.tm_hour);
        return (uint8_t)(to_reg(r, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12) |
                         (tm.tm_hour >= 12 ? 0x80 : 0));
    case REG_WDAY: return to_reg(r, tm.tm_wday + 1);
    case REG_MDAY: return to_reg(r, tm.tm_mday);
    case REG_MON: return to_reg(r, tm.tm_mon + 1);
    case REG_YEAR: return to_reg(r, tm.tm_year % 100);
    default: return to_reg(r, (tm.tm_year + 1900) / 100);
    }
}

/* A guest write to one time field moves the clock by setting a new offset. */
static void rtc_write_time(struct rtc *r, uint8_t reg, uint8_t v)
{
    struct tm tm;
    guest_tm(r, &tm);
    int n = from_reg(r, (uint8_t)(reg == REG_HOUR ? v & 0x7f : v));
    switch (reg) {
    case REG_SEC: tm.tm_sec = n; break;
    case REG_MIN: tm.tm_min = n; break;
    case REG_HOUR:
        if (!(r->cmos[REG_B] & B_24H))
            n = (n % 12) + ((v & 0x80) ? 12 : 0);
        tm.tm_hour = n;
        break;
    case REG_MDAY: tm.tm_mday = n; break;
    case REG_MON: tm.tm_mon = n - 1; break;
    case REG_YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + n; break;
    case REG_CENTURY: tm.tm_year = (n - 19) * 100 + tm.tm_year % 100; break;
    default: return;
    }
    time_t t = timegm(&tm);
    if (t != (time_t)-1)
        r->offset_sec = (int64_t)(t - r->host_time());
}

static bool is_time_reg(uint8_t reg)
{
    return reg <= REG_YEAR ? !(reg & 1) || reg == REG_MDAY || reg == REG_YEAR : reg == REG_CENTURY;
}

void rtc_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    struct rtc *r = opaque;
    pthread_mutex_lock(&r->lock);
    if (offset == 0) {
        if (is_write)
            r->index = data[0] & 0x7f; /* bit 7 is the NMI mask */
        else
            data[0] = r->index;
    } else if (is_write) {
        uint8_t reg = r->index;
        if (is_time_reg(reg) && reg != REG_WDAY)
            rtc_write_time(r, reg, data[0]);
        else if (reg == REG_A)
            r->cmos[reg] = data[0] & 0x7f; /* UIP is read-only */
        else if (reg != REG_C && reg != REG_D)
            r->cmos[reg] = data[0];
    } else {
        uint8_t reg = r->index;
        if (is_time_reg(reg))
            data[0] = rtc_read_time(r, reg);
        else if (reg == REG_C) {
            data[0] = r->cmos[REG_C];
            r->cmos[REG_C] = 0;
        } else
            data[0] = r->cmos[reg];
    }
    for (unsigned i = 1; i < size && !is_write; i++)
        data[i] = 0xff;
    pthread_mutex_unlock(&r->lock);
}
