/* Blocking TCP helpers with an optional deadline for the CLI. A deadline is
 * an absolute cli_net_now_ms() value, or -1 for none. */
#ifndef TB_CLI_NET_H
#define TB_CLI_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLI_NET_TIMEOUT (-2)

int64_t cli_net_now_ms(void);

/* Connects to the first address of host:port that answers. Returns the
 * socket, CLI_NET_TIMEOUT, or -1 with a message in err. */
int cli_net_connect(const char *host, const char *port, int64_t deadline, char *err, size_t errlen);

/* Returns 0 or -1 (errno set). Never raises SIGPIPE. */
int cli_net_send_all(int fd, const void *p, size_t n);

/* Returns bytes read, 0 at EOF, CLI_NET_TIMEOUT, or -1 (errno set). */
ssize_t cli_net_recv(int fd, void *p, size_t n, int64_t deadline);

#endif
