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

double tbd_check_delay(tbd_check_strategy strategy, uint32_t static_interval, double expires_at,
                       double now, bool soon_if_expired)
{
    /* The dynamic schedule aims a check at the expiry instant; a check that
     * lands a hair early finds the token valid, and by the time it is
     * rescheduled the token may have expired: DESIGN's "already expired:
     * 15 s" would then keep an expired session 15 s. A token known valid a
     * moment ago and expired now is checked at the next sweep (only after a
     * lookup that returned the token: a backend that keeps answering
     * "valid" for a token our clock says is expired is asked again on
     * DESIGN's schedule, not every sweep). */
    if (soon_if_expired && strategy == TBD_CHECK_DYNAMIC && expires_at > 0 && expires_at <= now)
        return 0;
    return tbd_next_check_delay(strategy, static_interval, expires_at, now);
}
