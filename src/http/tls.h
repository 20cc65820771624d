/* tls.h -- OpenSSL, loaded on first use.
 *
 * libssl and libcrypto are opened with dlopen the first time a TLS connection is made, so
 * the commands that never speak TLS (herd node above all) do not map them: that is about
 * 1.7 MB of resident memory per process. The table's pointers keep OpenSSL's own prototypes
 * (typeof), so calls through it are type-checked like direct calls. */
#ifndef HERD_HTTP_TLS_H
#define HERD_HTTP_TLS_H

#include <stddef.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_API_FUNCTIONS(X)                                                                       \
    X(TLS_client_method)                                                                           \
    X(SSL_CTX_new)                                                                                 \
    X(SSL_CTX_set_default_verify_paths)                                                            \
    X(SSL_CTX_set_verify)                                                                          \
    X(SSL_CTX_ctrl)                                                                                \
    X(SSL_new)                                                                                     \
    X(SSL_free)                                                                                    \
    X(SSL_set_bio)                                                                                 \
    X(SSL_set_connect_state)                                                                       \
    X(SSL_ctrl)                                                                                    \
    X(SSL_get0_param)                                                                              \
    X(SSL_set1_host)                                                                               \
    X(SSL_do_handshake)                                                                            \
    X(SSL_get_error)                                                                               \
    X(SSL_read)                                                                                    \
    X(SSL_write)                                                                                   \
    X(BIO_new)                                                                                     \
    X(BIO_s_mem)                                                                                   \
    X(BIO_free)                                                                                    \
    X(BIO_read)                                                                                    \
    X(BIO_write)                                                                                   \
    X(BIO_ctrl_pending)                                                                            \
    X(X509_VERIFY_PARAM_set1_ip_asc)                                                               \
    X(SSL_get_verify_result)                                                                       \
    X(SSL_get1_session)                                                                            \
    X(SSL_set_session)                                                                             \
    X(SSL_session_reused)                                                                          \
    X(SSL_SESSION_is_resumable)                                                                    \
    X(SSL_SESSION_free)                                                                            \
    X(SSL_set_shutdown)                                                                            \
    X(X509_verify_cert_error_string)                                                               \
    X(ERR_get_error)                                                                               \
    X(ERR_error_string_n)                                                                          \
    X(ERR_clear_error)

struct tls_api {
#define TLS_API_FIELD(name) __typeof__(&name) name;
    TLS_API_FUNCTIONS(TLS_API_FIELD)
#undef TLS_API_FIELD
};

/* The loaded table, or NULL with a message in err when OpenSSL cannot be loaded. Loads once;
 * safe from any thread. */
const struct tls_api *tls_api_get(char *err, size_t errlen);

#endif
