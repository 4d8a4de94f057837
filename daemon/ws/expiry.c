/* When to re-check a connected session's token (DESIGN.md §3), in seconds. */
#include "ws/expiry.h"

#define HOURS(h) ((h) * 3600.0)

double tbd_next_check_delay(tbd_check_strategy strategy, uint32_t static_interval,
                            double expires_at, double now)
{
    if (strategy == TBD_CHECK_STATIC)
        return static_interval ? static_interval : 1;
    if (expires_at <= 0)
        return HOURS(12); /* never expires: still re-check for revocation */
    double left = expires_at - now;
    if (left <= 0)
        return 15;
    if (left < 15)
        return left;
    if (left < 80)
        return left < 60 ? left : 60;
    if (left <= HOURS(16))
        return left * 0.75;
    return HOURS(12);
}
