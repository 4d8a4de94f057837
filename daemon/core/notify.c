/* systemd readiness (notify.h). "Ready" means what a client needs: the
 * listener accepts and the bus is connected, so that a unit ordered after
 * tenbusd (or a health check) does not meet 1011 "bus connection error".
 * With RabbitMQ down at start-up tenbusd keeps running and retrying (as
 * documented), reporting STATUS=waiting; systemd's start timeout decides
 * how long that may last. */
#include "core/notify.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/server.h"

#ifdef TB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static uv_timer_t notify__timer;
static bool notify__active, notify__ready;
static struct tbd_server *notify__srv;

static void notify__check(uv_timer_t *t)
{
    tbd_server *srv = notify__srv;
    if (!srv->bus->ops->connected(srv->bus))
        return;
    uv_timer_stop(t);
    notify__ready = true;
    sd_notifyf(0, "READY=1\nSTATUS=listening on %s:%u, bus %s connected", srv->cfg->listen,
               srv->cfg->port, srv->bus->ops->name);
    tbd_log_info("systemd notified: ready");
}

void tbd_notify_start(tbd_server *srv, uv_loop_t *loop)
{
    if (!getenv("NOTIFY_SOCKET"))
        return;
    notify__srv = srv;
    notify__active = true;
    sd_notifyf(0, "STATUS=listening on %s:%u, waiting for the bus (%s)", srv->cfg->listen,
               srv->cfg->port, srv->bus->ops->name);
    uv_timer_init(loop, &notify__timer);
    uv_timer_start(&notify__timer, notify__check, 0, 100);
}

void tbd_notify_reloading(void)
{
    if (notify__active && notify__ready)
        sd_notify(0, "RELOADING=1");
}

void tbd_notify_reloaded(void)
{
    if (notify__active && notify__ready)
        sd_notify(0, "READY=1");
}

void tbd_notify_stop(void)
{
    if (!notify__active)
        return;
    notify__active = false;
    sd_notify(0, "STOPPING=1");
    uv_close((uv_handle_t *)&notify__timer, NULL);
}

#else /* built without libsystemd */

void tbd_notify_start(struct tbd_server *srv, uv_loop_t *loop)
{
    (void)srv;
    (void)loop;
    if (getenv("NOTIFY_SOCKET"))
        tbd_log_warn("NOTIFY_SOCKET is set but tenbusd was built without libsystemd: "
                 "use Type=simple");
}

void tbd_notify_reloading(void) {}
void tbd_notify_reloaded(void) {}
void tbd_notify_stop(void) {}

#endif
