/* Messages for the user and for the developer.
 * vlog_error() is the one clear line a user sees when something is wrong; it goes to
 * stderr prefixed with "viridian: ". vlog_debug() prints only with VIRIDIAN_DEBUG set. */
#ifndef VIRIDIAN_CORE_LOG_H
#define VIRIDIAN_CORE_LOG_H

void vlog_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vlog_debug_enabled(void);

#endif
