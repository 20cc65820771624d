/* plain_backend.c -- a backend that knows nothing of herd, for the gateway's tests: no node
 * header, no /health (404 there), 200 on every other path, HTTP/1.1 with keep-alive, one
 * thread, poll(2), no library. It counts the requests it answers 200 on paths other than
 * "/" (where a health check may point) and "/count", and GET /count tells that number: the
 * independent observer of what the gateway sent it. GET /api/item answers JSON,
 * {"id":1,"name":"widget","price":12.5,"served":N} (N: how many times it was asked, a field
 * that changes between calls), for parity's tests; not counted.
 *
 *   plain_backend PORT [--price-text]   listens on 127.0.0.1:PORT until SIGTERM or SIGKILL;
 *                                       --price-text: /api/item's price is "12.5" (a string) */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 128
#define BUF_SIZE    16384

struct client {
    int fd;
    char buf[BUF_SIZE];
    size_t len;
};

static struct client clients[MAX_CLIENTS];
static unsigned long counted, items_served;
static bool price_text;

static void respond_typed(int fd, int status, const char *type, const char *body,
                          bool close_after)
{
    char out[512];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n%s",
                     status, status == 200 ? "OK" : "Not Found", type, strlen(body),
                     close_after ? "Connection: close\r\n" : "", body);
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, out + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += (int)w;
    }
}

static void respond(int fd, int status, const char *body, bool close_after)
{
    respond_typed(fd, status, "text/plain", body, close_after);
}

/* Answers every complete request in c's buffer. Returns false when the connection ends. */
static bool serve(struct client *c)
{
    for (;;) {
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end) return c->len < BUF_SIZE - 1;
        size_t head = (size_t)(end - c->buf) + 4, body = 0;
        char method[16] = "", path[1024] = "";
        if (sscanf(c->buf, "%15s %1023s", method, path) != 2) return false;
        bool close_after = false;
        for (char *line = strstr(c->buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
            if (strncasecmp(line, "Content-Length:", 15) == 0) body = strtoul(line + 15, NULL, 10);
            if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line, "close") &&
                strstr(line, "close") < strstr(line, "\r\n"))
                close_after = true;
        }
        if (head + body > c->len) return c->len < BUF_SIZE - 1;
        char *q = strchr(path, '?');
        if (q) *q = '\0';
        char text[64];
        if (strcmp(path, "/health") == 0) {
            respond(c->fd, 404, "not found\n", close_after);
        } else if (strcmp(path, "/api/item") == 0) {
            char item[160];
            snprintf(item, sizeof item,
                     "{\"id\":1,\"name\":\"widget\",\"price\":%s,\"served\":%lu}",
                     price_text ? "\"12.5\"" : "12.5", ++items_served);
            respond_typed(c->fd, 200, "application/json", item, close_after);
        } else if (strcmp(path, "/count") == 0) {
            snprintf(text, sizeof text, "%lu\n", counted);
            respond(c->fd, 200, text, close_after);
        } else {
            if (strcmp(path, "/") != 0) counted++;
            respond(c->fd, 200, "hello\n", close_after);
        }
        memmove(c->buf, c->buf + head + body, c->len - head - body);
        c->len -= head + body;
        if (close_after) return false;
    }
}

int main(int argc, char **argv)
{
    int port = argc >= 2 ? atoi(argv[1]) : 0;
    price_text = argc == 3 && strcmp(argv[2], "--price-text") == 0;
    if (port < 1 || port > 65535 || argc > 3 || (argc == 3 && !price_text)) {
        fprintf(stderr, "usage: plain_backend PORT [--price-text]\n");
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 128) < 0) {
        fprintf(stderr, "plain_backend: port %d: %s\n", port, strerror(errno));
        return 3;
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    for (;;) {
        struct pollfd fds[MAX_CLIENTS + 1];
        int map[MAX_CLIENTS + 1], n = 0;
        fds[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        map[n++] = -1;
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].fd >= 0) {
                fds[n] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR) return 3;
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents) continue;
            if (map[k] < 0) {
                int fd = accept(lfd, NULL, NULL);
                int slot = 0;
                while (fd >= 0 && slot < MAX_CLIENTS && clients[slot].fd >= 0)
                    slot++;
                if (fd >= 0 && slot == MAX_CLIENTS) close(fd);
                if (fd < 0 || slot == MAX_CLIENTS) continue;
                clients[slot].fd = fd;
                clients[slot].len = 0;
                continue;
            }
            struct client *c = &clients[map[k]];
            ssize_t r = read(c->fd, c->buf + c->len, BUF_SIZE - 1 - c->len);
            if (r < 0 && errno == EINTR) continue;
            if (r > 0) c->len += (size_t)r;
            if (r <= 0 || !serve(c)) {
                close(c->fd);
                c->fd = -1;
            }
        }
    }
}
