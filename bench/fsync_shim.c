/*
 * LD_PRELOAD shim that makes a disk's flushes slow, or fail, for the bench's slow-storage rows and
 * for the tests of the flush path (tests/e2e/test_flush.c). It never ships in the gateway.
 *
 * Every fsync/fdatasync of a file whose path starts with FSYNC_DELAY_DIR (all files when unset) and
 * contains FSYNC_MATCH (any when unset):
 *   - sleeps FSYNC_DELAY_US microseconds (default 1000) before the real flush, as cloud block
 *     storage taking ~1 ms per flush would;
 *   - fails with EIO, without flushing, while the file named by FSYNC_FAIL_FLAG exists.
 * Build: cc -O2 -shared -fPIC -o fsync_shim.so bench/fsync_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int matches(int fd)
{
    const char *dir = getenv("FSYNC_DELAY_DIR"), *match = getenv("FSYNC_MATCH");
    if ((dir == NULL || dir[0] == '\0') && (match == NULL || match[0] == '\0'))
        return 1;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    if (dir != NULL && dir[0] != '\0' && strncmp(path, dir, strlen(dir)) != 0)
        return 0;
    return match == NULL || match[0] == '\0' || strstr(path, match) != NULL;
}

/* 0: go on with the real flush; -1: fail it (errno set). */
static int before_flush(int fd)
{
    if (!matches(fd))
        return 0;
    const char *d = getenv("FSYNC_DELAY_US");
    long us = d != NULL ? atol(d) : 1000;
    if (us > 0) {
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    const char *flag = getenv("FSYNC_FAIL_FLAG");
    if (flag != NULL && flag[0] != '\0' && access(flag, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return before_flush(fd) != 0 ? -1 : real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return before_flush(fd) != 0 ? -1 : real(fd);
}
