/*
 * probe: what a process sees from inside a container, one `key=value` line each, for
 * `make cluster-test` (hack/cluster-test.sh), which copies it (static, no libc needed in the
 * image) into the operator pod's /tmp volume and runs it with `kubectl exec`, i.e. with the
 * container's own user, capabilities, seccomp filter, namespaces and mounts.
 *
 *   uid, gid, euid, egid, groups      identity
 *   CapInh .. CapAmb, NoNewPrivs, Seccomp   from /proc/self/status
 *   root_mount                        the options of the mount at / (ro or rw)
 *   write:<path>                      ok, or the error of creating a file there
 *   setuid0, chown_root, mknod        ok, or the error (each needs a capability)
 *   read:<path>                       ok (and the size), or the error
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void status_fields(void) {
    static const char *keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
    char line[512];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        printf("status=%s\n", strerror(errno));
        return;
    }
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t n = strlen(keys[i]);
            if (strncmp(line, keys[i], n) == 0) {
                char *v = line + n;
                while (*v == ' ' || *v == '\t') v++;
                v[strcspn(v, "\n")] = 0;
                printf("%.*s=%s\n", (int)(n - 1), keys[i], v);
            }
        }
    }
    fclose(f);
}

/* mountinfo: "36 35 98:0 /root / rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
 * field 5 is the mount point, field 6 the per-mount options. The last line for "/" wins (it is
 * the one on top). */
static void root_mount(void) {
    char line[4096], found[256] = "";
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) {
        printf("root_mount=%s\n", strerror(errno));
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 1; field && i < 5; i++) field = strtok_r(NULL, " ", &save);
        if (field && strcmp(field, "/") == 0) {
            char *opts = strtok_r(NULL, " ", &save);
            if (opts) snprintf(found, sizeof found, "%s", opts);
        }
    }
    fclose(f);
    printf("root_mount=%s\n", found[0] ? found : "none");
}

static void try_write(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/.probe-%d", dir, (int)getpid());
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd < 0) {
        printf("write:%s=%s\n", dir, strerror(errno));
        return;
    }
    close(fd);
    unlink(path);
    printf("write:%s=ok\n", dir);
}

static void try_read(const char *path) {
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        printf("read:%s=%s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return;
    }
    close(fd);
    printf("read:%s=ok %lld\n", path, (long long)st.st_size);
}

static const char *result(int rc) { return rc == 0 ? "ok" : strerror(errno); }

int main(void) {
    gid_t groups[64];
    int n = getgroups(64, groups);
    printf("uid=%d\ngid=%d\neuid=%d\negid=%d\ngroups=", (int)getuid(), (int)getgid(), (int)geteuid(), (int)getegid());
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)groups[i]);
    printf("\n");
    status_fields();
    root_mount();
    try_write("/");
    try_write("/etc");
    try_write("/usr/local/bin");
    try_write("/tmp");
    printf("setuid0=%s\n", result(setuid(0)));
    char path[64];
    snprintf(path, sizeof path, "/tmp/.probe-chown-%d", (int)getpid());
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) close(fd);
    printf("chown_root=%s\n", result(chown(path, 0, 0)));
    unlink(path);
    snprintf(path, sizeof path, "/tmp/.probe-null-%d", (int)getpid());
    printf("mknod=%s\n", result(mknod(path, S_IFCHR | 0600, makedev(1, 3))));
    unlink(path);
    try_read("/var/run/secrets/kubernetes.io/serviceaccount/token");
    try_read("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
    try_read("/etc/ssl/certs/ca-certificates.crt");
    return 0;
}
