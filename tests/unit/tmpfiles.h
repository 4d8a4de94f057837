/* Temporary files for unit tests: one mkdtemp directory per test, every
 * file written through tf_write is removed (in reverse order) by tf_cleanup. */
#ifndef TB_TEST_TMPFILES_H
#define TB_TEST_TMPFILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TF_MAX 32

typedef struct tf_dir {
    char root[64];
    char paths[TF_MAX][256];
    int is_dir[TF_MAX];
    int n;
} tf_dir;

static inline int tf_init(tf_dir *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/tbtest.XXXXXX");
    return mkdtemp(t->root) ? 0 : -1;
}

/* Returns the full path of `rel` under the test directory (static until the
 * next TF_MAX paths). */
static inline const char *tf_path(tf_dir *t, const char *rel)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, 256, "%s/%s", t->root, rel);
    return b;
}

static inline const char *tf_mkdir(tf_dir *t, const char *rel)
{
    if (t->n == TF_MAX)
        return NULL;
    snprintf(t->paths[t->n], sizeof t->paths[0], "%s", tf_path(t, rel));
    if (mkdir(t->paths[t->n], 0700) < 0)
        return NULL;
    t->is_dir[t->n] = 1;
    return t->paths[t->n++];
}

static inline const char *tf_write(tf_dir *t, const char *rel, const char *text)
{
    if (t->n == TF_MAX)
        return NULL;
    snprintf(t->paths[t->n], sizeof t->paths[0], "%s", tf_path(t, rel));
    FILE *f = fopen(t->paths[t->n], "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    t->is_dir[t->n] = 0;
    return t->paths[t->n++];
}

static inline void tf_cleanup(tf_dir *t)
{
    while (t->n > 0) {
        t->n--;
        if (t->is_dir[t->n])
            rmdir(t->paths[t->n]);
        else
            unlink(t->paths[t->n]);
    }
    rmdir(t->root);
}

#endif
