/* The file auth backend's tokens file (daemon/auth/tokens_file.c, token.c):
 * the input is the file. Every token of a loaded set must be found by its
 * id, and its compiled ACL must agree with its raw entries. */
#include <unistd.h>

#include <tenbus/acl.h>

#include "fuzz.h"
#include "auth/tokens_file.h"
#include "conf/yamljson.h"

static char dir[64];

static void remove_dir(void)
{
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/tbfuzz-tokens.XXXXXX");
        FUZZ_CHECK(mkdtemp(dir));
        atexit(remove_dir);
    }
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/tokens.yml", dir);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);

    tbd_token_set *s = tbd_token_set_load(path, err, sizeof err);
    unlink(path);
    if (!s) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    /* Re-read the ids from the document itself to look each one up. */
    json_t *doc = tb__yaml_load_buf((const char *)data, size, "again", err, sizeof err);
    FUZZ_CHECK(doc);
    const json_t *list = json_is_object(doc) ? json_object_get(doc, "tokens") : doc;
    size_t n = json_array_size(list);
    FUZZ_CHECK(tbd_token_set_count(s) == n);
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(list, i), "token"));
        FUZZ_CHECK(id);
        tbd_token *t = tbd_token_set_find(s, id);
        FUZZ_CHECK(t && strcmp(t->token, id) == 0);
        FUZZ_CHECK(t->tenant_uuid);
        /* The shared list, uuids bound at match time, says what a list
         * compiled for this token alone says. */
        const tbd_acl_list *l = t->acl;
        for (size_t k = 0; k < l->n; k++) {
            bool g = tbd_token_grants(t, l->entries[k]);
            FUZZ_CHECK(g == tb_acl_check(l->entries, l->n, l->entries[k], t->user_uuid,
                                         t->session_uuid));
        }
        FUZZ_CHECK(tbd_token_grants(t, NULL));
        (void)tbd_token_expired(t, 0);
        tbd_token_unref(t);
    }
    FUZZ_CHECK(!tbd_token_set_find(s, NULL));
    json_decref(doc);
    tbd_token_set_ref(s);
    tbd_token_set_unref(s);
    tbd_token_set_unref(s);
    return 0;
}
