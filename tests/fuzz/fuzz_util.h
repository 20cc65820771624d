/* fuzz_util.h -- what the libFuzzer targets share: inputs as C strings and as files. */
#ifndef HERD_FUZZ_UTIL_H
#define HERD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point, declared for -Wmissing-prototypes; each target defines it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called once by libFuzzer before the first input (fuzz_util.c defines it for every target):
 * logs only errors. Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of the input (it may hold NULs of its own: the string ends at the
 * first). Returns malloc'd memory the caller frees; aborts when out of memory. */
char *fuzz_string(const uint8_t *data, size_t size);

/* Writes the input to an anonymous in-memory file and its name ("/proc/self/fd/N") into path,
 * so that the loaders read it as they read a user's file. Returns the descriptor, which the
 * caller closes; aborts when the file cannot be made. */
int fuzz_file(const uint8_t *data, size_t size, char *path, size_t pathlen);

/* Reports a broken property (what the target checks beyond "does not crash") and aborts, so
 * that libFuzzer keeps the input as a crash. */
void fuzz_fail(const char *what, const char *input) __attribute__((noreturn));

#endif
