#include "tenbus/tenbus.h"

const char *tb_strerror(tb_err err)
{
    switch (err) {
    case TB_OK:        return "success";
    case TB_ENOMEM:    return "out of memory";
    case TB_EINVAL:    return "invalid argument";
    case TB_ENOTENANT: return "event level requires a tenant_uuid";
    case TB_ENOUSER:   return "user event without user_uuid";
    case TB_ENOUSERS:  return "multi-user event whose user_uuids is not a list of strings";
    case TB_ENOFIELD:  return "format names a field the event lacks";
    case TB_EFORMAT:   return "malformed format string";
    case TB_ENONAME:   return "event without a name";
    case TB_EINVALID:  return "content does not match the event type's schema";
    case TB_ECATALOGUE: return "invalid event catalogue";
    case TB_EURL:      return "bad or unsupported bus URL";
    case TB_ECONN:     return "cannot connect to the bus, or connection lost";
    case TB_EBROKER:   return "the bus refused the operation";
    case TB_ETIMEOUT:  return "no answer from the bus in time";
    case TB_ENACK:     return "the broker did not accept the message";
    }
    /* Not a default label: -Wswitch then flags a new code left unnamed here. */
    return "unknown error";
}

const char *tb_version(void)
{
    return TB_VERSION;
}
