#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t cli_net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() timeout until the deadline: -1 (none), 0 (passed) or ms left. */
static int time_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - cli_net_now_ms();
    if (left <= 0)
        return 0;
    return left > 1000000 ? 1000000 : (int)left;
}

/* Waits for `events` on fd. Returns 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    for (;;) {
        int rc = poll(&pfd, 1, time_left(deadline));
        if (rc >= 0)
            return rc > 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Non-blocking connect so the deadline also bounds an unanswered SYN. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *err_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int flags, soerr = 0;
    socklen_t sl = sizeof soerr;

    if (fd < 0) {
        *err_out = errno;
        return -1;
    }
    flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            *err_out = errno;
            close(fd);
            return -1;
        }
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w <= 0) {
            close(fd);
            if (w == 0)
                return CLI_NET_TIMEOUT;
            *err_out = errno;
            return -1;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
            *err_out = soerr ? soerr : errno;
            close(fd);
            return -1;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return fd;
}

int cli_net_connect(const char *host, const char *port, int64_t deadline, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res, *ai;
    int rc, fd = -1, e = ECONNREFUSED;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = connect_one(ai, deadline, &e);
        if (fd >= 0 || fd == CLI_NET_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd == CLI_NET_TIMEOUT)
        snprintf(err, errlen, "timed out connecting to %s port %s", host, port);
    else if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s port %s: %s", host, port, strerror(e));
    return fd;
}

int cli_net_send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t cli_net_recv(int fd, void *p, size_t n, int64_t deadline)
{
    int w = wait_fd(fd, POLLIN, deadline);
    if (w == 0)
        return CLI_NET_TIMEOUT;
    if (w < 0)
        return -1;
    for (;;) {
        ssize_t r = recv(fd, p, n, 0);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}
