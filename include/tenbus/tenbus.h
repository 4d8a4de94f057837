/* tenbus — tenant-aware event bus: public API umbrella header.
 *
 * The library never logs, prints or aborts: every fallible call returns a
 * tb_err (0 = success, negative = failure); tb_strerror() names it. */
#ifndef TENBUS_TENBUS_H
#define TENBUS_TENBUS_H

#define TB_EXTERN __attribute__((visibility("default")))

typedef enum tb_err {
    TB_OK = 0,
    TB_ENOMEM = -1,        /* allocation failed */
    TB_EINVAL = -2,        /* bad argument (NULL where not allowed, wrong JSON type) */
    TB_ENOTENANT = -3,     /* tenant/user/multi-user event without tenant_uuid */
    TB_ENOUSER = -4,       /* user event without user_uuid */
    TB_ENOUSERS = -5,      /* multi-user event whose user_uuids is not a list of strings */
    TB_ENOFIELD = -6,      /* routing key / ACL format names a field the event lacks */
    TB_EFORMAT = -7,       /* malformed format string (unbalanced braces) */
    TB_ENONAME = -8,       /* event without a name */
    TB_EINVALID = -9,      /* content does not match its event type's schema */
    TB_ECATALOGUE = -10,   /* catalogue file unreadable or invalid */
    TB_EURL = -11,         /* bad or unsupported bus URL */
    TB_ECONN = -12,        /* cannot connect to the bus, or the connection was lost */
    TB_EBROKER = -13,      /* the bus refused an operation (AMQP reply code, HTTP status) */
    TB_ETIMEOUT = -14,     /* no answer from the bus in time */
    TB_ENACK = -15,        /* the broker did not accept a published message (nack) */
} tb_err;

TB_EXTERN const char *tb_strerror(tb_err err);

/* The version of tenbus, "MAJOR.MINOR.PATCH" (TB_VERSION). */
#define TB_VERSION "0.1.0"
TB_EXTERN const char *tb_version(void);

/* DESIGN.md §1 levels of an event. */
typedef enum tb_level {
    TB_LEVEL_SERVICE = 0, /* services only; never reaches a user */
    TB_LEVEL_TENANT,      /* all users of one tenant: tenant_uuid + user_uuid:* */
    TB_LEVEL_USER,        /* one user: tenant_uuid + user_uuid:<uuid> */
    TB_LEVEL_MULTI_USER,  /* a list of users: tenant_uuid + one user_uuid:<uuid> each */
} tb_level;

#include "tenbus/acl.h"
#include "tenbus/event.h"
#include "tenbus/hdrmatch.h"
#include "tenbus/client.h"
#include "tenbus/wire.h"

#endif
