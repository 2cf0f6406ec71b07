/* Shard URL lists as WebDataset users write them: brace ranges "shard-{000000..000999}.tar" (zero
 * padding kept, several braces expand as nested loops, the first outermost), several sources joined
 * with "::" (outside brackets: "http://[::1]:8000/a.tar" is one URL), and each URL one of http://,
 * https://, file:// or a plain path. A list is user input: expansion returns a status and a one-line
 * message naming the pattern, never stops the process. */
#ifndef BCOS_URLS_H
#define BCOS_URLS_H

#include <stddef.h>

/* More URLs than this from one pattern is taken for a typo ({0..99999999}), not a dataset. */
#define BCOS_URLS_MAX 10000000L

typedef enum { BCOS_URL_HTTP, BCOS_URL_HTTPS, BCOS_URL_FILE, BCOS_URL_PATH } bcos_url_kind;

typedef struct {
    long count;
    char **urls; /* count expanded URLs, in pattern order */
} bcos_url_list;

/* Expand pattern into list. Returns 0, or -1 with err "url list 'PATTERN': what is wrong" and an
 * empty list. Errors: an empty list or source, an unclosed or nested brace, a brace that is not a
 * decimal range a..b, a reversed range, a scheme other than http/https/file, a URL without a host
 * or path, more than BCOS_URLS_MAX URLs. */
int bcos_urls_expand(bcos_url_list *list, const char *pattern, char *err, size_t errlen);
void bcos_urls_free(bcos_url_list *list);

/* text (a URL, a URL list, or a message holding URLs) with the userinfo of every URL replaced by
 * "***": "user:pass@" in "http://user:pass@host/a.tar" becomes "***@". Heap; the caller frees. Credentials
 * stay in the URLs the transfers use, and go through here before any log line, message, event or
 * job text shows them. */
char *bcos_url_redact(const char *text);
/* The same in place, for a message in a buffer of size bytes (cut to fit, still NUL-terminated). */
void bcos_url_redact_buffer(char *text, size_t size);

/* The kind of an expanded URL (one bcos_urls_expand accepted). */
bcos_url_kind bcos_url_kind_of(const char *url);
/* The file system path of a BCOS_URL_FILE or BCOS_URL_PATH URL ("file:///a/b" -> "/a/b"). */
const char *bcos_url_path(const char *url);

#endif
