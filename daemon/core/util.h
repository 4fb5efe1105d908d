/*
 * util.h -- small helpers shared by every module: a growable vector of
 * owned strings, hex encoding, bounded file reading.
 *
 * (String vectors are public: dcv/strv.h.)
 * Ownership: a dcv_strv owns its strings; dcv_strv_free() releases them and
 * leaves an empty, reusable vector. Errors are DCV_E* codes (dcv/err.h).
 */
#ifndef DCV_UTIL_H
#define DCV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dcv/err.h"

#include "dcv/strv.h"

/* Writes 2*n lower-case hex digits and a NUL to out. */
void dcv_hex(const unsigned char *in, size_t n, char *out);

/* Lower-cases ASCII letters in place; other bytes untouched. */
void dcv_ascii_lower(char *s);

/*
 * Reads a whole regular file of at most max bytes into a fresh buffer
 * (NUL-terminated for convenience; *len excludes the NUL). The size is
 * checked with fstat() before reading, so a huge file is refused without
 * being read; the file is opened non-blocking so that a FIFO cannot hang
 * the caller. path "-" reads standard input up to max bytes.
 * Errors: DCV_EIO (with strerror), DCV_ETOOBIG, DCV_EINVAL (not a regular
 * file), DCV_ENOMEM; each with why. The caller frees *buf.
 */
int dcv_read_file(const char *path, size_t max, unsigned char **buf, size_t *len,
                  struct dcv_why *why);

/*
 * Reads from an already opened descriptor (regular file checked by the
 * caller) at most max bytes; DCV_ETOOBIG when more are there.
 */
int dcv_read_fd(int fd, size_t max, unsigned char **buf, size_t *len, struct dcv_why *why);

/*
 * Retry delay for attempt 0, 1, 2...: base * 2^attempt, capped at cap, with
 * +-25% random jitter so that many retries do not arrive in step.
 */
uint64_t dcv_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms);

/*
 * renameat2(RENAME_NOREPLACE): never over anything; on a file system
 * without it (EINVAL, ENOSYS), link and unlink, which never replace either.
 * 0, or -1 with errno set (EEXIST when to is taken).
 */
int dcv_rename_noreplace(int from_fd, const char *from, int to_fd, const char *to);

/* Writes all len bytes of buf to fd (again after EINTR and short writes): false with errno on
 * failure. */
bool dcv_write_all(int fd, const void *buf, size_t len);

/*
 * A malloc'd copy of the len bytes at p with a NUL after them (NULL when out
 * of memory); the caller frees it. Unlike strndup() it never looks past len:
 * p may be memory with no NUL anywhere after it, such as a value in LMDB's
 * map, whose page may be the last of the file (reading on is SIGBUS), or a
 * field of a DER buffer. Copied NUL bytes stay, so C string functions see
 * the text up to the first.
 */
char *dcv_memdup_text(const void *p, size_t len);

/*
 * Opens the folder name below at (O_DIRECTORY, O_NOFOLLOW), creating it
 * first when it is missing (*created says which). A folder it creates gets
 * exactly mode, set by fchmod() since mkdir() applies the umask and may
 * drop the setgid bit. The set-id bits never go to mkdirat(): systemd's
 * RestrictSUIDSGID= (dcvd.service has it) refuses every mkdir whose mode
 * holds one with EPERM, even for a folder that exists. Where fchmod() of
 * them is refused too, the new folder keeps mode without them and
 * *setid_lost is set, for the caller to warn. Returns the descriptor, or -1
 * with errno set.
 */
int dcv_dir_open(int at, const char *name, mode_t mode, bool *created, bool *setid_lost);

/* t (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ" (UTC); the number itself if it cannot be.
 */
void dcv_utc_text(uint64_t t, char *out, size_t size);

/*
 * Length of the well-formed UTF-8 sequence at s (at most len bytes) whose
 * code point is printable -- not a C0 or C1 control, not DEL, not a
 * surrogate, not over U+10FFFF, not an overlong form -- or 0 when the
 * bytes there are anything else.
 */
size_t dcv_utf8_printable_len(const unsigned char *s, size_t len);

/* Whether all len bytes of s are printable UTF-8 (dcv_utf8_printable_len throughout). */
bool dcv_utf8_printable(const char *s, size_t len);

/*
 * Input quoted in a message (names from CSRs, file names, sidecar values,
 * texts from servers) goes through this: copies len bytes of src to dst
 * with every byte that is not part of printable UTF-8 written as \\xNN, so
 * that no control byte reaches a terminal, a log or a YAML file and the
 * original stays readable. A backslash is kept as it is: escaping is then
 * idempotent (a message that quotes an escaped text twice shows it once),
 * and names with a backslash never reach a job (the spool renames them).
 * The result is cut at
 * a code point or escape boundary to fit size bytes (NUL included; size 0
 * writes nothing). Returns true when the result differs from the input
 * (something escaped or cut).
 */
bool dcv_escape(char *dst, size_t size, const char *src, size_t len);

#endif
