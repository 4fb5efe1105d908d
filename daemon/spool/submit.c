/*
 * submit.c -- what `dcv submit` puts into a spool, and how it reads the
 * result back (submit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "submit.h"
#include "yin.h"
#include "yout.h"

static const char *const submit_exts[] = {"csr", "pem", "der", NULL};

void dcv_submit_name_make(const char *path, const unsigned char rnd[DCV_SUBMIT_RANDOM_BYTES],
                          struct dcv_submit_name *out)
{
	const char *base = strrchr(path, '/');
	const char *dot = NULL;
	char hex[2 * DCV_SUBMIT_RANDOM_BYTES + 1];
	size_t n = 0, o = 0;

	memset(out, 0, sizeof(*out));
	base = base != NULL ? base + 1 : path;
	snprintf(out->ext, sizeof(out->ext), "csr");
	if (strcmp(path, "-") == 0)
		base = "stdin";
	n = strlen(base);
	dot = strrchr(base, '.');
	for (size_t i = 0; dot != NULL && dot != base && submit_exts[i] != NULL; i++) {
		if (strcasecmp(dot + 1, submit_exts[i]) == 0) {
			snprintf(out->ext, sizeof(out->ext), "%s", submit_exts[i]);
			n = (size_t)(dot - base);
		}
	}
	for (size_t i = 0; i < n && o < DCV_SUBMIT_STEM_MAX; i++) {
		char c = base[i];
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && o > 0);
		out->name[o++] = keep ? c : '_';
	}
	if (o == 0)
		o = (size_t)snprintf(out->name, sizeof(out->name), "csr");
	dcv_hex(rnd, DCV_SUBMIT_RANDOM_BYTES, hex);
	hex[2 * DCV_SUBMIT_RANDOM_BYTES] = '\0';
	snprintf(out->name + o, sizeof(out->name) - o, "-%s", hex);
	snprintf(out->file, sizeof(out->file), "%s.%s", out->name, out->ext);
	snprintf(out->sidecar, sizeof(out->sidecar), "%s.yaml", out->name);
}

int dcv_submit_name_new(const char *path, struct dcv_submit_name *out, struct dcv_why *why)
{
	unsigned char rnd[DCV_SUBMIT_RANDOM_BYTES];
	size_t got = 0;
	ssize_t n = 0;

	while (got < sizeof(rnd)) {
		n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dcv_why_set(why, "no random bytes for a NAME: %s", strerror(errno));
			return DCV_EIO;
		}
		got += (size_t)n;
	}
	dcv_submit_name_make(path, rnd, out);
	return DCV_OK;
}

int dcv_submit_sidecar(const char *unique, const char *target, char *const *expect, size_t n_expect,
                       const char *token, unsigned char **buf, size_t *len)
{
	struct yout y;

	*buf = NULL;
	*len = 0;
	if ((unique == NULL || unique[0] == '\0') && (target == NULL || target[0] == '\0') &&
	    n_expect == 0 && token == NULL)
		return DCV_OK;
	yout_begin_mem(&y);
	yout_map(&y);
	if (unique != NULL && unique[0] != '\0')
		yout_kv(&y, "unique_value", unique);
	if (target != NULL && target[0] != '\0')
		yout_kv(&y, "target", target);
	if (n_expect > 0) {
		yout_str(&y, "expect");
		yout_seq(&y);
		for (size_t i = 0; i < n_expect; i++)
			yout_str(&y, expect[i]);
		yout_end_seq(&y);
	}
	if (token != NULL)
		yout_kv(&y, "token", token);
	yout_end_map(&y);
	if (yout_end(&y) < 0)
		return DCV_ENOMEM;
	*buf = y.mem;
	*len = y.mem_len;
	return DCV_OK;
}

/*
 * A POSIX access ACL in its extended attribute's form (the kernel's
 * posix_acl_xattr, little endian): version 2, then entries of tag, perm
 * and id, sorted by tag. Written by hand: libacl is one more dependency
 * for one call.
 */
#define SUBMIT_ACL_VERSION 2
#define SUBMIT_ACL_USER_OBJ 0x01
#define SUBMIT_ACL_USER 0x02
#define SUBMIT_ACL_GROUP_OBJ 0x04
#define SUBMIT_ACL_MASK 0x10
#define SUBMIT_ACL_OTHER 0x20
#define SUBMIT_ACL_NO_ID 0xffffffffu

static void submit_acl_put(unsigned char *p, uint16_t tag, uint16_t perm, uint32_t id)
{
	p[0] = (unsigned char)tag;
	p[1] = (unsigned char)(tag >> 8);
	p[2] = (unsigned char)perm;
	p[3] = (unsigned char)(perm >> 8);
	for (int i = 0; i < 4; i++)
		p[4 + i] = (unsigned char)(id >> (8 * i));
}

/*
 * Makes fd readable by its owner and by uid reader alone: mode 0600 plus
 * an ACL entry user:READER:r (the mask r, the group nothing). The group
 * dcv-submit holds every other submitter, so a file it may read would show
 * them this CSR's names (and a sidecar's) until dcvd takes it. false when
 * the file system keeps no ACLs (errno ENOTSUP or EOPNOTSUPP).
 */
static bool submit_only_for(int fd, uid_t reader)
{
	unsigned char acl[4 + 5 * 8];

	acl[0] = SUBMIT_ACL_VERSION;
	acl[1] = acl[2] = acl[3] = 0;
	submit_acl_put(acl + 4, SUBMIT_ACL_USER_OBJ, 6, SUBMIT_ACL_NO_ID);
	submit_acl_put(acl + 12, SUBMIT_ACL_USER, 4, (uint32_t)reader);
	submit_acl_put(acl + 20, SUBMIT_ACL_GROUP_OBJ, 0, SUBMIT_ACL_NO_ID);
	submit_acl_put(acl + 28, SUBMIT_ACL_MASK, 4, SUBMIT_ACL_NO_ID);
	submit_acl_put(acl + 36, SUBMIT_ACL_OTHER, 0, SUBMIT_ACL_NO_ID);
	return fsetxattr(fd, "system.posix_acl_access", acl, sizeof(acl), 0) == 0;
}

int dcv_submit_drop(int incoming_fd, const char *shown, const char *final, const unsigned char *buf,
                    size_t len, struct dcv_why *why)
{
	char tmp[300];
	const char *step = "create";
	int fd = -1, rc = DCV_EIO;
	struct stat dir;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", final);
	fd = openat(incoming_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	/*
	 * Readable by dcvd -- the owner of incoming/ -- and nobody else; where
	 * the file system keeps no ACLs, by the group (0640), through which dcvd
	 * reads it too, and the other members of dcv-submit as well.
	 */
	step = "chmod";
	if (fstat(incoming_fd, &dir) < 0 || fchmod(fd, 0600) < 0)
		goto fail;
	if (!submit_only_for(fd, dir.st_uid)) {
		if (errno != ENOTSUP && errno != EOPNOTSUPP)
			goto fail;
		if (fchmod(fd, 0640) < 0)
			goto fail;
	}
	step = "write";
	if (!dcv_write_all(fd, buf, len))
		goto fail;
	step = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	step = "close";
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		rc = DCV_EIO;
		goto fail;
	}
	step = "rename";
	if (dcv_rename_noreplace(incoming_fd, tmp, incoming_fd, final) < 0) {
		rc = errno == EEXIST ? DCV_EINVAL : DCV_EIO;
		if (rc == DCV_EINVAL) {
			unlinkat(incoming_fd, tmp, 0);
			return rc;
		}
		goto fail;
	}
	/* The rename lasts once the folder is on disk too (best effort: a submitter may not read
	 * it). */
	fsync(incoming_fd);
	return DCV_OK;
fail:
	dcv_why_set(why, "%s/%s: %s: %s", shown, step[0] == 'r' ? final : tmp, step,
	            strerror(errno));
	if (fd >= 0)
		close(fd);
	unlinkat(incoming_fd, tmp, 0);
	return DCV_EIO;
}

/* The top-level scalar of key in a mapping node, or NULL. */
static const char *submit_value(const struct dcv_yin_node *root, const char *key)
{
	for (size_t i = 0; root != NULL && root->kind == DCV_YIN_MAP && i + 1 < root->n_kids;
	     i += 2)
		if (root->kids[i]->kind == DCV_YIN_SCALAR &&
		    strcmp(root->kids[i]->value, key) == 0 &&
		    root->kids[i + 1]->kind == DCV_YIN_SCALAR && !root->kids[i + 1]->nul_byte)
			return root->kids[i + 1]->value;
	return NULL;
}

bool dcv_submit_result_parse(const char *text, size_t len, const char *token, size_t *shown_len,
                             char *state, size_t state_size, char *error, size_t error_size)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin y;
	const char *v = NULL, *line = NULL;
	bool ours = false;

	state[0] = '\0';
	error[0] = '\0';
	memset(&y, 0, sizeof(y));
	if (memchr(text, '\0', len) != NULL ||
	    dcv_yin_parse(&y, "status", (const unsigned char *)text, len, &errors) < 0)
		goto out;
	/* The token as a value (the emitter may quote it), and its line the last key's. */
	if ((v = submit_value(y.root, "token")) == NULL || strcmp(v, token) != 0)
		goto out;
	for (const char *p = text;
	     p < text + len && (p = memchr(p, '\n', (size_t)(text + len - p))) != NULL; p++)
		if ((size_t)(text + len - p) > 7 && memcmp(p + 1, "token:", 6) == 0)
			line = p + 1;
	if (line == NULL)
		goto out;
	ours = true;
	*shown_len = (size_t)(line - text);
	if ((v = submit_value(y.root, "state")) != NULL)
		snprintf(state, state_size, "%s", v);
	if ((v = submit_value(y.root, "error")) != NULL)
		snprintf(error, error_size, "%s", v);
out:
	dcv_yin_free(&y);
	dcv_strv_free(&errors);
	return ours;
}
