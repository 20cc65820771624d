/* outdir.h -- where reports go: made and proven writable before any work whose result they
 * hold is started, so that a bad output path costs nothing (no load sent, no cluster launched). */
#ifndef HERD_BASE_OUTDIR_H
#define HERD_BASE_OUTDIR_H

#include <stddef.h>

/* Makes dir and the directories above it that are missing (mode 0755, as mkdir -p). Returns 0,
 * or -1 with "COMPONENT: why" in err (the first directory that could not be made: "/etc/passwd:
 * Not a directory"). */
int outdir_make(const char *dir, char *err, size_t errlen);

/* Makes dir (outdir_make) and checks a new file can be created in it, by creating one and
 * removing it. Returns 0, or -1 with "DIR: why" in err. */
int outdir_check_dir(const char *dir, char *err, size_t errlen);

/* Checks that a file can be written at path: it is not a directory, and its directory is made
 * and takes a new file (outdir_check_dir). Writes nothing at path itself. Returns 0, or -1 with
 * "PATH: why" in err. */
int outdir_check_file(const char *path, char *err, size_t errlen);

#endif
