/* util.c -- string vectors, hex, bounded file reading. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "util.h"

static int strv_take(struct dcv_strv *sv, char *s)
{
	char **grown = NULL;
	size_t cap = 0;

	if (sv->n == sv->cap) {
		cap = sv->cap ? sv->cap * 2 : 8;
		grown = realloc(sv->v, cap * sizeof(*grown));
		if (grown == NULL)
			return DCV_ENOMEM;
		sv->v = grown;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
	return DCV_OK;
}

int dcv_strv_push(struct dcv_strv *sv, const char *s)
{
	char *copy = strdup(s);
	int rc = DCV_ENOMEM;

	if (copy == NULL)
		goto out;
	rc = strv_take(sv, copy);
	if (rc < 0)
		free(copy);
out:
	return rc;
}

int dcv_strv_pushf(struct dcv_strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int rc = DCV_ENOMEM;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		goto out;
	rc = strv_take(sv, s);
	if (rc < 0)
		free(s);
out:
	return rc;
}

bool dcv_strv_contains(const struct dcv_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

int dcv_strv_push_unique(struct dcv_strv *sv, const char *s)
{
	if (dcv_strv_contains(sv, s))
		return DCV_OK;
	return dcv_strv_push(sv, s);
}

void dcv_strv_free(struct dcv_strv *sv)
{
	if (sv == NULL)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
	sv->cap = 0;
}

void dcv_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

void dcv_ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int dcv_read_fd(int fd, size_t max, unsigned char **buf, size_t *len, struct dcv_why *why)
{
	unsigned char *data = NULL;
	size_t have = 0;
	ssize_t got = 0;
	int rc = DCV_ENOMEM;

	/* One spare byte tells "exactly max" from "more than max". */
	data = malloc(max + 2);
	if (data == NULL) {
		dcv_why_set(why, "out of memory for %zu bytes", max + 2);
		goto out;
	}
	for (;;) {
		got = read(fd, data + have, max + 1 - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = DCV_EIO;
			dcv_why_set(why, "read failed: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		have += (size_t)got;
		if (have > max) {
			rc = DCV_ETOOBIG;
			dcv_why_set(why, "larger than the limit of %zu bytes", max);
			goto out;
		}
	}
	data[have] = '\0';
	*buf = data;
	*len = have;
	data = NULL;
	rc = DCV_OK;
out:
	free(data);
	return rc;
}

int dcv_read_file(const char *path, size_t max, unsigned char **buf, size_t *len,
                  struct dcv_why *why)
{
	struct stat st;
	int fd = -1;
	int rc = DCV_EIO;

	if (strcmp(path, "-") == 0) {
		rc = dcv_read_fd(STDIN_FILENO, max, buf, len, why);
		goto out;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		dcv_why_set(why, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		dcv_why_set(why, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = DCV_EINVAL;
		dcv_why_set(why, "is a directory, not a file");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = DCV_EINVAL;
		dcv_why_set(why, "not a regular file");
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		rc = DCV_ETOOBIG;
		dcv_why_set(why, "file of %lld bytes is larger than the limit of %zu bytes",
		            (long long)st.st_size, max);
		goto out;
	}
	rc = dcv_read_fd(fd, max, buf, len, why);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

uint64_t dcv_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms)
{
	uint64_t delay = base_ms;
	uint32_t r = 0;

	for (unsigned i = 0; i < attempt && delay < cap_ms; i++)
		delay *= 2;
	if (delay > cap_ms)
		delay = cap_ms;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)attempt * 2654435761u;
	/* Uniform in [0.75, 1.25) * delay. */
	return delay * 3 / 4 + (delay / 2) * (r % 1024) / 1024;
}

int dcv_rename_noreplace(int from_fd, const char *from, int to_fd, const char *to)
{
	if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(from_fd, from, to_fd, to, 0) < 0)
		return -1;
	return unlinkat(from_fd, from, 0);
}

size_t dcv_utf8_printable_len(const unsigned char *s, size_t len)
{
	uint32_t cp = 0;
	size_t n = 0;

	if (len == 0)
		return 0;
	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f ? 1 : 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond Unicode, C1 controls. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

bool dcv_utf8_printable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0;

	while (i < len) {
		if ((n = dcv_utf8_printable_len(p + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

bool dcv_escape(char *dst, size_t size, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t i = 0, out = 0, n = 0;
	bool changed = false;

	if (size == 0)
		return len > 0;
	while (i < len) {
		char esc[5];
		const char *piece = NULL;
		size_t piece_len = 0;

		n = dcv_utf8_printable_len(p + i, len - i);
		if (n > 0) {
			piece = src + i;
			piece_len = n;
		} else {
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			piece = esc;
			piece_len = strlen(esc);
			n = 1;
			changed = true;
		}
		if (out + piece_len + 1 > size) {
			changed = true;
			break;
		}
		memcpy(dst + out, piece, piece_len);
		out += piece_len;
		i += n;
	}
	dst[out] = '\0';
	return changed;
}

bool dcv_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n = 0;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0) {
			errno = EIO;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

char *dcv_memdup_text(const void *p, size_t len)
{
	char *s = len < SIZE_MAX ? malloc(len + 1) : NULL;

	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

int dcv_dir_open(int at, const char *name, mode_t mode, bool *created, bool *setid_lost)
{
	const mode_t setid = S_ISUID | S_ISGID;
	int fd = -1, err = 0;

	*created = false;
	*setid_lost = false;
	if (mkdirat(at, name, mode & ~setid) == 0)
		*created = true;
	else if (errno != EEXIST)
		goto out;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !*created || fchmod(fd, mode) == 0)
		goto out;
	err = errno;
	if (err == EPERM && (mode & setid) != 0 && fchmod(fd, mode & ~setid) == 0) {
		*setid_lost = true;
		goto out;
	}
	close(fd);
	fd = -1;
	errno = err;
out:
	return fd;
}

void dcv_utc_text(uint64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%" PRIu64, t);
}
