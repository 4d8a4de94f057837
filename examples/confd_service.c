/* An example service built on libtenbus (docs/library.md): it consumes the
 * service-level `user_created` event on its own durable queue and, for each
 * one, publishes the seed's `do_something` user event of service `confd`
 * (routing key `config.{user_uuid}`) to that user.
 *
 *   example-confd-service --bus amqp://guest:guest@localhost:5672/ [--queue NAME]
 *   example-confd-service --bus ws://127.0.0.1:9502 --token MASTER_TOKEN
 *
 * `user_created`'s content is wazo-confd's: {"id", "uuid", "tenant_uuid",
 * ...}. Prints "ready" on stderr once subscribed, then one line per event
 * published; exits after --count events (0 = run until killed). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenbus/tenbus.h>

static const tb_event_type do_something = {
    .service = "confd", .name = "do_something", .level = TB_LEVEL_USER,
    .routing_key_fmt = "config.{user_uuid}",
};

struct service {
    tb_client *bus;
    const char *origin_uuid;   /* this stack's uuid */
    long handled, count;
};

/* Called for each user_created. Returning non-zero only counts a failure:
 * the message is acknowledged either way. */
static int on_user_created(const tb_message *msg, void *arg)
{
    struct service *svc = arg;
    const json_t *data = json_object_get(msg->body, "data");
    const char *user = json_string_value(json_object_get(data, "uuid"));
    const char *tenant = json_string_value(json_object_get(data, "tenant_uuid"));
    json_t *content;
    tb_event *ev;
    tb_err rc;

    if (!user || !tenant) {
        fprintf(stderr, "user_created without uuid/tenant_uuid: skipped\n");
        return -1;
    }
    content = json_pack("{s:s, s:s}", "user_uuid", user, "action", "welcome");
    tb_event_args args = {.tenant_uuid = tenant, .user_uuid = user, .content = content};
    rc = tb_event_new(&do_something, &args, svc->origin_uuid, &ev);
    json_decref(content);
    if (rc != TB_OK) {
        fprintf(stderr, "cannot build do_something: %s\n", tb_strerror(rc));
        return -1;
    }
    rc = tb_client_publish(svc->bus, ev);
    if (rc == TB_OK)
        printf("do_something %s %s\n", tb_event_routing_key(ev), user);
    else
        fprintf(stderr, "publish: %s: %s\n", tb_strerror(rc), tb_client_errmsg(svc->bus));
    fflush(stdout);
    tb_event_free(ev);
    svc->handled++;
    return rc == TB_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bus", required_argument, NULL, 'b'},   {"token", required_argument, NULL, 't'},
        {"queue", required_argument, NULL, 'q'}, {"exchange", required_argument, NULL, 'e'},
        {"origin-uuid", required_argument, NULL, 'o'}, {"count", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    struct service svc = {.origin_uuid = getenv("XIVO_UUID")};
    tb_client_config cfg = {.queue = "example-confd-service", .confirms = true};
    char err[512];
    tb_err rc;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': cfg.url = optarg; break;
        case 't': cfg.token = optarg; break;
        case 'q': cfg.queue = optarg; break;
        case 'e': cfg.exchange = optarg; break;
        case 'o': svc.origin_uuid = optarg; break;
        case 'c': svc.count = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s --bus URL [--token T] [--queue NAME] [--exchange NAME] "
                            "[--origin-uuid UUID] [--count N]\n", argv[0]);
            return 2;
        }
    }
    cfg.errbuf = err;
    cfg.errbuf_size = sizeof err;
    if (!cfg.url || (rc = tb_client_new(&cfg, &svc.bus)) != TB_OK) {
        fprintf(stderr, "%s\n", cfg.url ? err : "--bus is required");
        return 2;
    }
    /* Service-level user_created, any tenant: a filter on the name alone. */
    rc = tb_client_subscribe(svc.bus, "user_created", NULL, true, on_user_created, &svc, NULL);
    if (rc != TB_OK) {
        fprintf(stderr, "subscribe: %s: %s\n", tb_strerror(rc), tb_client_errmsg(svc.bus));
        tb_client_free(svc.bus);
        return 1;
    }
    fprintf(stderr, "ready\n");
    /* The blocking form: this thread is the service's bus thread. */
    while (!svc.count || svc.handled < svc.count) {
        rc = tb_client_process(svc.bus, 1000);
        if (rc == TB_ECONN)
            fprintf(stderr, "bus: %s (reconnecting)\n", tb_client_errmsg(svc.bus));
        else if (rc != TB_OK)
            break;
    }
    tb_client_free(svc.bus);
    return rc == TB_OK || rc == TB_ECONN ? 0 : 1;
}
