/*
 * fsync_gate: an LD_PRELOAD shim that can freeze durable storage.
 *
 * While the file named by $FSYNC_GATE exists, every fsync()/fdatasync() blocks (polling every
 * 10 ms) instead of reaching the disk: from the process's point of view the storage has stopped
 * honouring flushes, exactly the moment a power cut would hit. A test uses it to prove that the
 * agent acknowledges a transaction only after its fsync returned: with the gate closed no
 * acknowledgement may arrive, and after a SIGKILL everything acknowledged before is still there.
 * Each call that passed the gate is counted in $FSYNC_GATE.count (one byte appended per call).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int gate_closed(void) {
    const char *gate = getenv("FSYNC_GATE");
    return gate && access(gate, F_OK) == 0;
}

static void wait_gate(void) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    while (gate_closed()) nanosleep(&ts, NULL);
}

static void count_pass(void) {
    const char *gate = getenv("FSYNC_GATE");
    if (!gate) return;
    char path[4096];
    int n = 0;
    while (gate[n] && n < 4000) { path[n] = gate[n]; n++; }
    const char *suffix = ".count";
    for (int i = 0; suffix[i]; i++) path[n++] = suffix[i];
    path[n] = 0;
    int (*real_open)(const char *, int, ...) = dlsym(RTLD_NEXT, "open");
    ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    int fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) { real_write(fd, "x", 1); close(fd); }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    wait_gate();
    int rc = real(fd);
    count_pass();
    return rc;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    wait_gate();
    int rc = real(fd);
    count_pass();
    return rc;
}
