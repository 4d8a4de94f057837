/* TLS sessions over a BIO of ours (see tls.h).
 *
 * Why not BIO_s_mem: its buffer grows to the largest burst and never
 * shrinks, so every session that once received a large event would keep
 * that much memory while idle; a BIO pair keeps two fixed buffers per
 * session. Ours reads straight from the caller's read buffer and writes
 * into a block that is handed off whole, so nothing stays allocated
 * between uses. */
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct tbd_tls {
    SSL *ssl;
    const uint8_t *in;   /* lent ciphertext not yet consumed */
    size_t in_len;
    tbd_buf *out;        /* ciphertext produced, len = bytes filled; NULL if none */
    size_t out_cap;
    bool failed;         /* fatal error: no more SSL calls but SSL_free */
};

#define TLS_OUT_MIN 4096

static BIO_METHOD *tls__method;

/* The reason of the oldest queued OpenSSL error, then the queue emptied:
 * it is per thread and would otherwise leak into the next session's calls. */
static void tls__reason(char *err, size_t errlen, const char *fallback)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(err, errlen, "%s", r);
    else if (e)
        snprintf(err, errlen, "error %lu", e);
    else
        snprintf(err, errlen, "%s", fallback);
    ERR_clear_error();
}

static int tls__bio_write(BIO *b, const char *data, int len)
{
    tbd_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    size_t have = t->out ? t->out->len : 0;
    size_t need = have + (size_t)len;
    if (need > UINT32_MAX)
        return -1;
    if (need > t->out_cap) {
        size_t cap = t->out_cap ? t->out_cap : TLS_OUT_MIN;
        while (cap < need)
            cap *= 2;
        /* The block is ours alone until taken: growing it in place is safe. */
        tbd_buf *n = t->out ? realloc(t->out, sizeof(*n) + cap) : tbd_buf_new(cap);
        if (!n)
            return -1;
        n->len = (uint32_t)have;
        t->out = n;
        t->out_cap = cap;
    }
    memcpy(t->out->data + have, data, (size_t)len);
    t->out->len = (uint32_t)need;
    return len;
}

static int tls__bio_read(BIO *b, char *buf, int len)
{
    tbd_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->in_len == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    if (len <= 0)
        return 0;
    size_t n = (size_t)len < t->in_len ? (size_t)len : t->in_len;
    memcpy(buf, t->in, n);
    t->in += n;
    t->in_len -= n;
    return (int)n;
}

static long tls__bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tbd_tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;   /* writes are complete once in the block */
    case BIO_CTRL_PENDING:
        return t ? (long)t->in_len : 0;
    default:
        return 0;
    }
}

static int tls__bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* Encrypted keys would make OpenSSL prompt on the terminal. */
static int tls__no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

int tbd_tls_ctx_new(const tbd_config *cfg, tbd_tls_ctx **out, char *err, size_t errlen)
{
    const char *cert = cfg->tls_certificate, *key = cfg->tls_private_key;
    char why[256];
    *out = NULL;
    if (!cert && !key)
        return 0;
    if (!cert || !key) {
        /* As wazo-websocketd: TLS only with both; a wazo file may well set
         * one (its defaults did), and must keep working. */
        tbd_log_warn("%s is set but %s is not: TLS is off (it needs both)",
                 cert ? "websocket.certificate" : "websocket.private_key",
                 cert ? "websocket.private_key" : "websocket.certificate");
        return 0;
    }
    ERR_clear_error();
    if (!tls__method) {
        tls__method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tenbus");
        if (!tls__method || !BIO_meth_set_write(tls__method, tls__bio_write) ||
            !BIO_meth_set_read(tls__method, tls__bio_read) ||
            !BIO_meth_set_ctrl(tls__method, tls__bio_ctrl) ||
            !BIO_meth_set_create(tls__method, tls__bio_create)) {
            snprintf(err, errlen, "TLS: cannot set up OpenSSL");
            goto fail;
        }
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot set up OpenSSL");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Client-initiated renegotiation is a CPU-cost lever for clients and
     * nothing a WebSocket client needs. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Resumption by (stateless) tickets only: the server-side cache would
     * hold up to 20k sessions in memory. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_default_passwd_cb(ctx, tls__no_password);
    if (cfg->tls_ciphers && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
        tls__reason(why, sizeof why, "no usable cipher");
        snprintf(err, errlen, "tenbus.tls_ciphers: \"%s\": %s", cfg->tls_ciphers, why);
        goto fail_ctx;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls__reason(why, sizeof why, "unreadable");
        snprintf(err, errlen, "websocket.certificate: cannot load %s: %s", cert, why);
        goto fail_ctx;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            snprintf(err, errlen, "websocket.private_key: %s does not match the certificate %s",
                     key, cert);
            goto fail_ctx;
        }
        tls__reason(why, sizeof why, "unreadable");
        snprintf(err, errlen, "websocket.private_key: cannot load %s: %s", key, why);
        goto fail_ctx;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "websocket.private_key: %s does not match the certificate %s",
                 key, cert);
        goto fail_ctx;
    }
    *out = ctx;
    return 0;
fail_ctx:
    SSL_CTX_free(ctx);
fail:
    ERR_clear_error();
    return -1;
}

void tbd_tls_ctx_free(tbd_tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx);
    BIO_meth_free(tls__method);
    tls__method = NULL;
}

void tbd_tls_ctx_unref(tbd_tls_ctx *ctx)
{
    SSL_CTX_free(ctx);
}

tbd_tls *tbd_tls_new(tbd_tls_ctx *ctx)
{
    tbd_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    BIO *b = NULL;
    if (!(t->ssl = SSL_new(ctx)) || !(b = BIO_new(tls__method))) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(b, t);
    /* One BIO for both directions: SSL_set_bio takes its single ref. */
    SSL_set_bio(t->ssl, b, b);
    SSL_set_accept_state(t->ssl);
    return t;
}

void tbd_tls_free(tbd_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    tbd_buf_unref(t->out);
    free(t);
}

void tbd_tls_input(tbd_tls *t, const uint8_t *data, size_t len)
{
    t->in = data;
    t->in_len = len;
}

int tbd_tls_read(tbd_tls *t, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
    if (t->failed) {
        snprintf(err, errlen, "session failed");
        return -1;
    }
    for (;;) {
        size_t n = 0, before = t->in_len;
        ERR_clear_error();
        if (SSL_read_ex(t->ssl, buf, cap, &n) == 1)
            return (int)n;
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ) {
            /* OpenSSL reads until our BIO runs dry; should it stop short,
             * go on while it makes progress: the input is only lent. */
            if (t->in_len == 0) {
                t->in = NULL;
                return 0;
            }
            if (t->in_len < before)
                continue;
            snprintf(err, errlen, "input not consumed");
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            t->in = NULL;
            t->in_len = 0;
            return TBD_TLS_CLOSED;
        } else {
            tls__reason(err, errlen, e == SSL_ERROR_SYSCALL ? "unexpected end of input"
                                                              : "protocol error");
        }
        t->failed = true;
        t->in = NULL;
        t->in_len = 0;
        return -1;
    }
}

bool tbd_tls_ready(const tbd_tls *t)
{
    return !t->failed && SSL_is_init_finished(t->ssl);
}

int tbd_tls_write(tbd_tls *t, const void *data, size_t len)
{
    size_t n;
    if (!tbd_tls_ready(t))
        return -1;
    if (len == 0)
        return 0;
    ERR_clear_error();
    /* Our BIO never pushes back, so without partial-write mode this
     * encrypts everything or fails. */
    if (SSL_write_ex(t->ssl, data, len, &n) != 1) {
        ERR_clear_error();
        t->failed = true;
        return -1;
    }
    return 0;
}

size_t tbd_tls_pending(const tbd_tls *t)
{
    return t->out ? t->out->len : 0;
}

tbd_buf *tbd_tls_take(tbd_tls *t)
{
    tbd_buf *b = t->out;
    t->out = NULL;
    t->out_cap = 0;
    if (b && b->len == 0) {
        tbd_buf_unref(b);
        b = NULL;
    }
    return b;
}

void tbd_tls_shutdown(tbd_tls *t)
{
    if (!tbd_tls_ready(t))
        return;
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}
