/* tls.c -- OpenSSL, loaded on first use (see tls.h). */
#include "http/tls.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "base/err.h"

static struct tls_api api;
static const struct tls_api *loaded;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {"libssl.so.3", "libssl.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(load_error, sizeof load_error, "TLS: cannot load OpenSSL (libssl.so.3): %s", dlerror());
        return;
    }
    /* dlsym on libssl's handle also finds libcrypto's symbols: it is a dependency */
#define TLS_API_LOAD(name)                                                                         \
    if (!(*(void **)&api.name = dlsym(lib, #name))) {                                              \
        snprintf(load_error, sizeof load_error, "TLS: OpenSSL lacks %s", #name);                  \
        return;                                                                                    \
    }
    TLS_API_FUNCTIONS(TLS_API_LOAD)
#undef TLS_API_LOAD
    loaded = &api;
}

const struct tls_api *tls_api_get(char *err, size_t errlen)
{
    pthread_once(&once, load);
    if (!loaded)
        err_set(err, errlen, "%s", load_error);
    return loaded;
}
