/*
 * submit.h -- what `dcv submit` puts into a spool (README, "The spool"):
 * the NAMEs it chooses, the sidecar it writes, and the atomic drop of one
 * file into incoming/.
 *
 * NAMEs: "<stem>-<16 hex digits>" where the stem is the FILE's base name
 * without a .csr/.pem/.der extension, made of letters, digits, '.', '_'
 * and '-' only (any other byte becomes '_', a leading '.' too, so it is
 * never a dot-file), at most DCV_SUBMIT_STEM_MAX bytes ("stdin" for "-",
 * "csr" when nothing is left); the 64 random bits (getrandom) keep
 * concurrent submitters and repeated submissions of one file apart, and a
 * NAME that is taken all the same (RENAME_NOREPLACE says EEXIST) is drawn
 * again. Such a NAME is always safe for dcvd (spool_name.c: printable
 * UTF-8, no '~', no '\'), fits DCV_JOB_NAME_MAX, and its extension is the
 * FILE's (lower case) or "csr".
 *
 * The drop: the bytes are written to a dot-file in incoming/ (which dcvd
 * ignores) created O_EXCL, readable by the submitter and by the owner of
 * incoming/ (dcvd) alone: mode 0600 and a POSIX ACL entry for that uid,
 * whatever the umask. Only where the file system keeps no ACLs is it 0640,
 * readable through the group (dcv-submit, by the folder's setgid bit, of
 * which dcvd is a member) -- and so by every other submitter until dcvd
 * takes it. It is made durable with fsync(), and renamed to its NAME with
 * RENAME_NOREPLACE, so dcvd sees a whole file or none, and never one that
 * replaced another.
 */
#ifndef DCV_SUBMIT_H
#define DCV_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "dcv/dcv.h"
#include "dcv/err.h"
#include "store.h"
#include "util.h"

#define DCV_SUBMIT_STEM_MAX 64
#define DCV_SUBMIT_RANDOM_BYTES 8

/* A NAME and its extension; file is "<name>.<ext>". */
struct dcv_submit_name {
	char name[DCV_SUBMIT_STEM_MAX + 2 * DCV_SUBMIT_RANDOM_BYTES + 2];
	char ext[4];
	char file[DCV_SUBMIT_STEM_MAX + 2 * DCV_SUBMIT_RANDOM_BYTES + 6];
	char sidecar[DCV_SUBMIT_STEM_MAX + 2 * DCV_SUBMIT_RANDOM_BYTES + 7]; /* "<name>.yaml" */
};

/* The NAME of path with the given random bytes (pure; see above). */
void dcv_submit_name_make(const char *path, const unsigned char rnd[DCV_SUBMIT_RANDOM_BYTES],
                          struct dcv_submit_name *out);

/* The same with fresh random bytes: DCV_OK, or DCV_EIO (why) without randomness. */
int dcv_submit_name_new(const char *path, struct dcv_submit_name *out, struct dcv_why *why);

/*
 * The sidecar text for the options (sidecar.h): unique_value and target
 * when set, expect when n_expect > 0, token when not NULL. *buf is NULL
 * (and DCV_OK) when there is nothing to say. DCV_ENOMEM. The caller frees
 * *buf.
 */
int dcv_submit_sidecar(const char *unique, const char *target, char *const *expect, size_t n_expect,
                       const char *token, unsigned char **buf, size_t *len);

/*
 * Drops len bytes of buf as incoming_fd/<final> (see above). DCV_OK;
 * DCV_EINVAL when final is taken (errno EEXIST: draw another NAME); DCV_EIO
 * with why naming the folder (shown) and the call. No dot-file is left
 * behind on any failure.
 */
int dcv_submit_drop(int incoming_fd, const char *shown, const char *final, const unsigned char *buf,
                    size_t len, struct dcv_why *why);

/*
 * The result dcvd wrote for a job (results.h), as dcv reads it: YAML whose
 * token: value is token, on a line of its own after every other key (else
 * false: not ours); *shown_len is then the length of text before that
 * line (what dcv prints). state and error get
 * the status's state: and error: values (state "" when there is none;
 * error "" when none), cut to their size.
 */
bool dcv_submit_result_parse(const char *text, size_t len, const char *token, size_t *shown_len,
                             char *state, size_t state_size, char *error, size_t error_size);

#endif
