/* json_body.h -- the JSON object a request body must be, parsed and its keys checked, so that
 * every API answers a bad body with the same kind of message. */
#ifndef HERD_HTTP_JSON_BODY_H
#define HERD_HTTP_JSON_BODY_H

#include <stddef.h>

#include <jansson.h>

/* Parses body (len bytes, not NUL-terminated) as a JSON object, no key twice (another parser
 * in front could take the other value), whose keys are all in keys
 * (NULL-terminated; NULL: any key). Returns a new reference the caller releases, or NULL with
 * msg set to "body: invalid JSON at line L column C: WHAT", "body: expected a JSON object"
 * or "body: unknown field 'NAME', expected K1, K2 or K3". */
json_t *json_body_object(const char *body, size_t len, const char *const keys[], char *msg,
                         size_t msglen);

#endif
