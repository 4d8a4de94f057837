/* systemd readiness (sd_notify, libsystemd) for Type=notify units
 * (debian/tenbusd.service). Without $NOTIFY_SOCKET, or built without
 * libsystemd, every call does nothing. Main thread only. */
#ifndef TBD_NOTIFY_H
#define TBD_NOTIFY_H

#include <uv.h>

struct tbd_server;

/* Once the workers listen: READY=1 as soon as the bus is connected
 * (checked every 100 ms on `loop`; STATUS= says what it waits for). */
void tbd_notify_start(struct tbd_server *srv, uv_loop_t *loop);
/* SIGHUP: RELOADING=1 ... READY=1 around the reload. */
void tbd_notify_reloading(void);
void tbd_notify_reloaded(void);
/* STOPPING=1, and closes the timer so that `loop` can end. */
void tbd_notify_stop(void);

#endif
