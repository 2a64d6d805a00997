#include "common/alloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gw_alloc_fail(size_t size)
{
    /* no stdio buffers, no allocation: this may run with the heap exhausted */
    char line[64];
    int n = snprintf(line, sizeof(line), "fatal: out of memory (%zu bytes)\n", size);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nothing more can be done */
    }
    abort();
}

void *gw_malloc(size_t size)
{
    void *p = malloc(size != 0 ? size : 1);
    if (p == NULL)
        gw_alloc_fail(size);
    return p;
}

void *gw_calloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);
    if (p == NULL)
        gw_alloc_fail(n * size);
    return p;
}

void *gw_realloc(void *p, size_t size)
{
    void *q = realloc(p, size != 0 ? size : 1);
    if (q == NULL)
        gw_alloc_fail(size);
    return q;
}

char *gw_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = gw_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *gw_strdup(const char *s)
{
    size_t len = strlen(s);
    char *p = gw_malloc(len + 1);
    memcpy(p, s, len + 1);
    return p;
}

void gw_alloc_init(void)
{
    json_set_alloc_funcs(gw_malloc, free);
}
