/* GET /metrics (Prometheus text) and GET /status (JSON health). */
#ifndef TBD_METRICS_H
#define TBD_METRICS_H

#include <jansson.h>

#include "core/server.h"

char *tbd_metrics_text(tbd_server *srv);   /* new string, or NULL on ENOMEM */
json_t *tbd_status_json(tbd_server *srv);  /* new ref */

#endif
