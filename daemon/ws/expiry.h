/* When to re-check a session's token (DESIGN §3, strategies dynamic and
 * static). Pure: no clock, no I/O. */
#ifndef TBD_EXPIRY_H
#define TBD_EXPIRY_H

#include <stdint.h>

#include "conf/config.h"

/* Seconds from `now` until the next check of a token expiring at
 * `expires_at` (Unix seconds; <= 0 = no expiry). */
double tbd_next_check_delay(tbd_check_strategy strategy, uint32_t static_interval,
                            double expires_at, double now);
/* The delay before the next check of a session's token: as above, except
 * that with `soon_if_expired` (the token was just found valid) a dynamic
 * schedule re-checks an expired token at once (0). */
double tbd_check_delay(tbd_check_strategy strategy, uint32_t static_interval, double expires_at,
                       double now, bool soon_if_expired);

#endif
