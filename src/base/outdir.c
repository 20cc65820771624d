/* outdir.c -- output directories made and proven writable up front (see outdir.h). */
#include "base/outdir.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

int outdir_make(const char *dir, char *err, size_t errlen)
{
    char tmp[4096];
    if (!dir[0]) return err_set(err, errlen, "'': expected a directory");
    if (strlen(dir) >= sizeof tmp) return err_set(err, errlen, "%.64s...: path too long", dir);
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last) continue;
        *p = '\0';
        struct stat st;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return err_set(err, errlen, "%s: %s", tmp, strerror(errno));
        if (stat(tmp, &st) < 0) return err_set(err, errlen, "%s: %s", tmp, strerror(errno));
        if (!S_ISDIR(st.st_mode)) return err_set(err, errlen, "%s: %s", tmp, strerror(ENOTDIR));
        if (last) return 0;
        *p = '/';
    }
}

int outdir_check_dir(const char *dir, char *err, size_t errlen)
{
    if (outdir_make(dir, err, errlen) < 0) return -1;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.herd-write-probe.%d", dir, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, errlen, "%s: cannot create a file there: %s", dir, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

int outdir_check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (!path[0]) return err_set(err, errlen, "'': expected a file name");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return err_set(err, errlen, "%s: is a directory, expected a file name", path);
    const char *slash = strrchr(path, '/');
    if (!slash) return outdir_check_dir(".", err, errlen);
    if (slash == path) return outdir_check_dir("/", err, errlen);
    char dir[4096];
    if ((size_t)(slash - path) >= sizeof dir)
        return err_set(err, errlen, "%.64s...: path too long", path);
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return outdir_check_dir(dir, err, errlen);
}
