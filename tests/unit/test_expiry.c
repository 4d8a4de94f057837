/* Token re-check scheduling (daemon/expiry.c, DESIGN.md §3), as a table:
 * strategy, static interval, time left before expiry -> delay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "ws/expiry.h"

#define NOW 1800000000.0   /* any fixed wall time */
#define H(x) ((x) * 3600.0)
#define NEVER (-12345.0)   /* "left" meaning: no expiry */

static const struct {
    tbd_check_strategy strategy;
    uint32_t interval;
    double left;           /* seconds before utc_expires_at; NEVER: no expiry */
    bool soon_if_expired;
    double want;
} cases[] = {
    /* dynamic: already expired -> 15 s */
    {TBD_CHECK_DYNAMIC, 0, 0, false, 15},
    {TBD_CHECK_DYNAMIC, 0, -100, false, 15},
    /* ... unless the token was just found valid: at once */
    {TBD_CHECK_DYNAMIC, 0, 0, true, 0},
    {TBD_CHECK_DYNAMIC, 0, -1, true, 0},
    /* under 15 s: that time */
    {TBD_CHECK_DYNAMIC, 0, 0.5, false, 0.5},
    {TBD_CHECK_DYNAMIC, 0, 14.9, true, 14.9},
    /* under 80 s: at most 60 s */
    {TBD_CHECK_DYNAMIC, 0, 15, false, 15},
    {TBD_CHECK_DYNAMIC, 0, 59, false, 59},
    {TBD_CHECK_DYNAMIC, 0, 60, false, 60},
    {TBD_CHECK_DYNAMIC, 0, 79.9, false, 60},
    /* up to 16 h: 75 % of it */
    {TBD_CHECK_DYNAMIC, 0, 80, false, 60},
    {TBD_CHECK_DYNAMIC, 0, 400, false, 300},
    {TBD_CHECK_DYNAMIC, 0, H(1), false, H(0.75)},
    {TBD_CHECK_DYNAMIC, 0, H(16), false, H(12)},
    /* beyond: 12 h; no expiry: 12 h (revocation is still noticed) */
    {TBD_CHECK_DYNAMIC, 0, H(16) + 1, false, H(12)},
    {TBD_CHECK_DYNAMIC, 0, H(1000), false, H(12)},
    {TBD_CHECK_DYNAMIC, 0, NEVER, false, H(12)},
    {TBD_CHECK_DYNAMIC, 0, NEVER, true, H(12)},
    /* static: the interval whatever the expiry (0 would spin: 1 s) */
    {TBD_CHECK_STATIC, 60, H(1), false, 60},
    {TBD_CHECK_STATIC, 60, 0, true, 60},
    {TBD_CHECK_STATIC, 5, NEVER, false, 5},
    {TBD_CHECK_STATIC, 0, 100, false, 1},
};

static void schedule_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double expires_at = cases[i].left == NEVER ? 0 : NOW + cases[i].left;
        double got = tbd_check_delay(cases[i].strategy, cases[i].interval, expires_at, NOW,
                                     cases[i].soon_if_expired);
        if (fabs(got - cases[i].want) > 1e-6)
            fail_msg("case %zu: strategy %d interval %u left %g soon %d: got %g, want %g", i,
                     cases[i].strategy, cases[i].interval, cases[i].left,
                     cases[i].soon_if_expired, got, cases[i].want);
        if (!cases[i].soon_if_expired)
            assert_true(fabs(tbd_next_check_delay(cases[i].strategy, cases[i].interval,
                                                  expires_at, NOW) - got) < 1e-6);
    }
}

/* A check scheduled by the dynamic rule never lands after the expiry of a
 * token that has not expired yet: the session cannot outlive its token by
 * more than the scheduling slack. */
static void never_after_expiry(void **state)
{
    (void)state;
    for (double left = 0.001; left < H(20); left *= 1.7) {
        double d = tbd_check_delay(TBD_CHECK_DYNAMIC, 0, NOW + left, NOW, true);
        assert_true(d > 0);
        assert_true(d <= left + 1e-6);   /* NOW + left rounds */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedule_table),
        cmocka_unit_test(never_after_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
