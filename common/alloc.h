/*
 * The one out-of-memory policy, as h2o (h2o_mem_alloc) and redis (zmalloc) have it: an allocation
 * that fails aborts the process with one line on stderr. A gateway that cannot allocate cannot
 * answer truthfully either, and a half-handled failure deep in a request (a 500 here, a silently
 * dropped field there) is worse than a restart: every change is durable before it is answered, and
 * the outbox resumes where it stopped. So no caller checks these for NULL.
 *
 * gw_alloc_init() routes jansson's allocations through the same wrapper; call it once in main
 * before any other thread starts (tests that use jansson without it still get jansson's own NULL
 * handling).
 *
 * Ownership: every pointer returned here is the caller's, released with free().
 */
#ifndef COMMON_ALLOC_H
#define COMMON_ALLOC_H

#include <stddef.h>

#define GW_ALLOC_FN __attribute__((malloc, returns_nonnull, warn_unused_result))

GW_ALLOC_FN void *gw_malloc(size_t size);
GW_ALLOC_FN void *gw_calloc(size_t n, size_t size);
/** realloc that never returns NULL; `size` 0 is taken as 1 so the result is always a live block. */
__attribute__((returns_nonnull, warn_unused_result)) void *gw_realloc(void *p, size_t size);
GW_ALLOC_FN char *gw_strdup(const char *s);
/** At most `n` bytes of `s` (fewer when `s` ends first), NUL-terminated. */
GW_ALLOC_FN char *gw_strndup(const char *s, size_t n);

/** Writes "out of memory (N bytes)" to stderr and aborts. For allocators outside this module. */
__attribute__((noreturn)) void gw_alloc_fail(size_t size);

/** Makes jansson allocate through gw_malloc. Once, before threads start. */
void gw_alloc_init(void);

#endif
