/* The per-worker session index (DESIGN §2, §7): tenant -> admins / users /
 * user buckets, master-tenant sessions apart, interned required ACLs with a
 * per-session verdict cache. An event costs O(candidates), never a scan of
 * every session. Only the worker's own thread touches its index. */
#ifndef TBD_ROUTE_H
#define TBD_ROUTE_H

#include "core/worker.h"
#include "net/conn.h"
#include "route/msg.h"

void tbd_route_add(tbd_worker *w, tbd_conn *c);
void tbd_route_del(tbd_worker *w, tbd_conn *c);
void tbd_route_msg(tbd_worker *w, tbd_msg *m);
void tbd_route_free(tbd_worker *w);

#endif
