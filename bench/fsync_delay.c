/*
 * fsync_delay: an LD_PRELOAD shim that models a terminal's flash: every fsync()/fdatasync()
 * does the real call and then sleeps $FSYNC_DELAY_US microseconds (eMMC-class: ~2000).
 * bench/core.py compiles it with the system C compiler and preloads it alike into our daemon
 * and into the raw-sqlite3 baseline, so both pay the same per-flush cost.
 * Each call is counted in a shared counter file when $FSYNC_DELAY_COUNT names one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void delay(void) {
    const char *us = getenv("FSYNC_DELAY_US");
    long v = us ? strtol(us, NULL, 10) : 0;
    if (v > 0) {
        struct timespec ts = {v / 1000000, (v % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0) {}
    }
    const char *count = getenv("FSYNC_DELAY_COUNT");
    if (count) {
        int (*real_open)(const char *, int, ...) = dlsym(RTLD_NEXT, "open");
        ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
        int (*real_close)(int) = dlsym(RTLD_NEXT, "close");
        int fd = real_open(count, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) { real_write(fd, "x", 1); real_close(fd); }
    }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    int rc = real(fd);
    delay();
    return rc;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    int rc = real(fd);
    delay();
    return rc;
}
