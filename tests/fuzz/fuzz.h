/* Shared helpers of the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Every target defines LLVMFuzzerTestOneInput. Built with TB_FUZZ=ON it links
 * libFuzzer; otherwise it links replay.c, whose main() feeds it the files of
 * its corpus and regressions directories, so ctest re-runs every past crash
 * under the normal (gcc, ASan+UBSan) build. */
#ifndef TB_FUZZ_H
#define TB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test must keep: abort (libFuzzer saves the
 * input as a crash) with the location. */
#define FUZZ_CHECK(cond)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                      \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* Takes bytes off the front of the input: parameters first, payload after. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

static inline uint8_t fuzz_byte(fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* A NUL-terminated copy of the next line ('\n'-terminated, or the rest);
 * NULL once the input is exhausted. Caller frees. */
static inline char *fuzz_line(fuzz_in *in)
{
    if (!in->n)
        return NULL;
    const uint8_t *nl = memchr(in->p, '\n', in->n);
    size_t len = nl ? (size_t)(nl - in->p) : in->n;
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, in->p, len);
    s[len] = '\0';
    in->p += len + (nl ? 1 : 0);
    in->n -= len + (nl ? 1 : 0);
    return s;
}

/* A NUL-terminated copy of the whole input. */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Small deterministic PRNG (xorshift32) for input-derived choices such as
 * chunk sizes, so one input always replays the same way. */
static inline uint32_t fuzz_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

#endif
