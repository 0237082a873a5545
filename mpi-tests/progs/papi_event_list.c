/* Checks that LIBMDSM exports papi_sde_hook_list_events and that the hook
 * registers every event of mdsm_papi_event with its description; then that
 * `papi_native_avail -sde LIBMDSM` lists every one, once, with its
 * description on the next line, and no other sde:::mdsm:: event.
 *
 * Usage: papi_event_list PAPI_NATIVE_AVAIL LIBMDSM */
#include <dlfcn.h>
#include <sde_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mdsm_papi.h"

#define MAX_EVENTS 64

/* What the hook hands to PAPI, recorded through our own function table. */
static struct {
    int n;
    char name[MAX_EVENTS][64];
    char doc[MAX_EVENTS][128];
    int mode[MAX_EVENTS], type[MAX_EVENTS];
    papi_sde_fptr_t cb[MAX_EVENTS];
    void *param[MAX_EVENTS];
    char lib[64];
} rec;

static papi_handle_t rec_init(const char *lib)
{
    snprintf(rec.lib, sizeof(rec.lib), "%s", lib);
    return &rec;
}

static int rec_register_cb(papi_handle_t h, const char *name, int mode, int type,
                           papi_sde_fptr_t cb, void *param)
{
    (void)h;
    if (rec.n == MAX_EVENTS)
        return SDE_EINVAL;
    snprintf(rec.name[rec.n], sizeof(rec.name[0]), "%s", name);
    rec.mode[rec.n] = mode;
    rec.type[rec.n] = type;
    rec.cb[rec.n] = cb;
    rec.param[rec.n] = param;
    rec.n++;
    return SDE_OK;
}

static int rec_describe(papi_handle_t h, const char *name, const char *doc)
{
    (void)h;
    for (int i = 0; i < rec.n; i++)
        if (strcmp(rec.name[i], name) == 0)
            snprintf(rec.doc[i], sizeof(rec.doc[0]), "%s", doc);
    return SDE_OK;
}

/* Calls the hook as papi_native_avail does; returns the number of problems. */
static int check_hook(const char *lib, int nev)
{
    void *h = dlopen(lib, RTLD_NOW);
    void *sym = h ? dlsym(h, "papi_sde_hook_list_events") : NULL;
    if (!sym) {
        printf("FAIL: %s does not export papi_sde_hook_list_events (%s)\n", lib, dlerror());
        return 1;
    }
    papi_handle_t (*hook)(papi_sde_fptr_struct_t *);
    *(void **)&hook = sym;
    papi_sde_fptr_struct_t f;
    memset(&f, 0, sizeof(f));
    f.init = rec_init;
    f.register_counter_cb = rec_register_cb;
    f.describe_counter = rec_describe;
    int problems = 0;
    if (hook(&f) != &rec || strcmp(rec.lib, "mdsm") != 0) {
        printf("FAIL: the hook did not register as library 'mdsm' (got '%s')\n", rec.lib);
        problems++;
    }
    for (int i = 0; i < nev; i++) {
        const char *name = NULL, *doc = NULL;
        mdsm_papi_event(i, &name, &doc);
        int k = 0;
        while (k < rec.n && strcmp(name + strlen("sde:::mdsm::"), rec.name[k]) != 0)
            k++;
        if (k == rec.n) {
            printf("FAIL: the hook does not register %s\n", name);
            problems++;
        } else if (strcmp(rec.doc[k], doc) != 0 || rec.type[k] != PAPI_SDE_long_long ||
                   rec.mode[k] != (PAPI_SDE_RO | PAPI_SDE_DELTA) || rec.cb[k](rec.param[k]) != 0) {
            printf("FAIL: the hook registers %s as '%s' (type %d, mode %d), expected '%s', a "
                   "read-only delta long long reading 0 in a process without mdsm activity\n",
                   name, rec.doc[k], rec.type[k], rec.mode[k], doc);
            problems++;
        }
    }
    if (rec.n != nev) {
        printf("FAIL: the hook registers %d events, mdsm_papi_num_events() is %d\n", rec.n, nev);
        problems++;
    }
    return problems;
}

/* Copies the text of a "| text   |" table row, trimmed, into out. */
static void row_text(const char *line, char *out, size_t size)
{
    const char *s = strchr(line, '|');
    s = s ? s + 1 : line;
    while (*s == ' ')
        s++;
    size_t n = strcspn(s, "|\n");
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PAPI_NATIVE_AVAIL LIBMDSM\n", argv[0]);
        return 2;
    }
    int nev = mdsm_papi_num_events(), seen[MAX_EVENTS] = {0}, failures = 0;
    if (nev < 1 || nev > MAX_EVENTS) {
        fprintf(stderr, "mdsm_papi_num_events() is %d\n", nev);
        return 1;
    }
    failures += check_hook(argv[2], nev);
    /* stderr apart: PAPI's components write to it unbuffered, into the middle
     * of a table row wherever the pipe's buffer happens to be flushed. */
    char errpath[] = "/tmp/papi_event_list.XXXXXX";
    int efd = mkstemp(errpath);
    if (efd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(efd);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s' -sde '%s' 2>'%s'", argv[1], argv[2], errpath);
    FILE *p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        return 1;
    }
    char line[512], prev[256] = "", other[4096] = ""; /* other: lines outside tables */
    int expect_doc = -1; /* event whose description the next line holds */
    while (fgets(line, sizeof(line), p)) {
        char text[256];
        if (!strchr("|-= ", line[0]) && strlen(other) + strlen(line) < sizeof(other))
            strcat(other, line);
        row_text(line, text, sizeof(text));
        if (expect_doc >= 0) {
            const char *doc = NULL;
            mdsm_papi_event(expect_doc, NULL, &doc);
            if (strcmp(text, doc) != 0) {
                printf("FAIL: %s is described as '%s', expected '%s'\n", prev, text, doc);
                failures++;
            }
            expect_doc = -1;
        }
        if (strncmp(text, "sde:::mdsm::", 12) != 0)
            continue;
        int found = -1;
        for (int i = 0; i < nev; i++) {
            const char *name = NULL;
            mdsm_papi_event(i, &name, NULL);
            if (strcmp(text, name) == 0)
                found = i;
        }
        if (found < 0) {
            printf("FAIL: papi_native_avail lists %s, which mdsm does not export\n", text);
            failures++;
            continue;
        }
        if (seen[found]++) {
            printf("FAIL: %s is listed twice\n", text);
            failures++;
        }
        expect_doc = found;
        snprintf(prev, sizeof(prev), "%s", text);
    }
    int status = pclose(p);
    if (status != 0) {
        printf("FAIL: '%s' exited with status %d, saying:\n%s", cmd, status, other);
        FILE *e = fopen(errpath, "r");
        while (e && fgets(line, sizeof(line), e))
            fputs(line, stdout);
        if (e)
            fclose(e);
        failures++;
    }
    unlink(errpath);
    int listed = 0;
    for (int i = 0; i < nev; i++) {
        const char *name = NULL;
        mdsm_papi_event(i, &name, NULL);
        if (seen[i])
            listed++;
        else
            printf("FAIL: papi_native_avail does not list %s\n", name);
    }
    failures += nev - listed;
    if (failures) {
        printf("papi_native_avail -sde: %d of %d mdsm events listed, %d problems\n", listed, nev,
               failures);
        return 1;
    }
    printf("papi_sde_hook_list_events registers, and papi_native_avail -sde lists, every mdsm "
           "event with its description (%d of %d)\n",
           listed, nev);
    return 0;
}
