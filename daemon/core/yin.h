/*
 * yin.h -- reading small YAML documents (configuration, Knot key files,
 * spool sidecars) into a tree that remembers where every node was written,
 * so that every complaint can say "NAME:LINE:COL: what is wrong".
 *
 * Built from libyaml's event parser rather than its document loader because
 * we want to refuse what a configuration never needs, at its position:
 * aliases (which also rules out cycles and "billion laughs" blow-ups),
 * more than one document, nesting deeper than DCV_YIN_MAX_DEPTH, scalars
 * holding NUL bytes. Any byte string is safe input: it parses or it gives
 * a positioned error, never a crash or a leak.
 *
 * Scalars may hold secrets (TSIG keys), so the tree wipes every scalar when
 * it is freed, and the parser's copy of each scalar is wiped before libyaml
 * frees it. (Its scanner's internal buffers are out of our reach.)
 *
 * Errors are appended to a caller's dcv_strv as "NAME:LINE:COL: text" with
 * 1-based lines and columns; after DCV_YIN_MAX_ERRORS a last line says that
 * more were left out. Ownership: dcv_yin_free() releases the tree.
 */
#ifndef DCV_YIN_H
#define DCV_YIN_H

#include <stdbool.h>
#include <stddef.h>

#include "dcv/err.h"
#include "util.h"

#define DCV_YIN_MAX_DEPTH 32
#define DCV_YIN_MAX_ERRORS 100

enum dcv_yin_kind {
	DCV_YIN_SCALAR,
	DCV_YIN_LIST,
	DCV_YIN_MAP,
};

struct dcv_yin_node {
	enum dcv_yin_kind kind;
	unsigned long line, col; /* 1-based */
	/* scalars */
	char *value; /* NUL-terminated copy */
	size_t len;
	bool null;     /* plain "", "~" or "null": no value at all */
	bool nul_byte; /* value holds a NUL byte (only len tells its end) */
	/* lists: items; maps: key, value, key, value, ... */
	struct dcv_yin_node **kids;
	size_t n_kids;
	size_t cap_kids;
};

struct dcv_yin {
	const char *name;          /* for messages; not owned */
	struct dcv_yin_node *root; /* NULL for an empty document */
	struct dcv_strv *errors;   /* not owned */
	size_t n_errors;           /* errors reported through this struct */
	bool oom;                  /* an allocation failed somewhere */
};

/*
 * Parses buf[0..len) into y->root. Returns DCV_OK, DCV_EINVAL after
 * reporting the syntax error (libyaml's problem text, or ours) to errors,
 * or DCV_ENOMEM. y must be freed with dcv_yin_free() in every case.
 */
int dcv_yin_parse(struct dcv_yin *y, const char *name, const unsigned char *buf, size_t len,
                  struct dcv_strv *errors);

void dcv_yin_free(struct dcv_yin *y);

/* Reports "NAME:LINE:COL: ..." at node (or at 1:1 when node is NULL). */
void dcv_yin_error(struct dcv_yin *y, const struct dcv_yin_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "a scalar", "a list", "a mapping" or "nothing", for messages. */
const char *dcv_yin_kind_text(const struct dcv_yin_node *node);

/*
 * The text of a scalar that has a value; otherwise reports "WHAT: expected
 * a single value, found ..." (or "WHAT: a value is required") and returns
 * NULL. A scalar holding a NUL byte is refused too.
 */
const char *dcv_yin_text(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what);

/*
 * Splits a mapping into the values of the known keys: values[i] gets the
 * value of keys[i] (NULL when absent, keys[] ends with NULL), key_nodes[i]
 * (may be NULL) the key node. Unknown keys, duplicate keys and keys that
 * are not plain text are reported. Returns false (after reporting "WHAT:
 * expected a mapping, found ...") when node is not a mapping.
 */
bool dcv_yin_fields(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                    const char *const *keys, const struct dcv_yin_node **values,
                    const struct dcv_yin_node **key_nodes);

/*
 * A list's length: items of a list, 1 for a single scalar when one_ok,
 * 0 for "nothing" (an empty value). A mapping, or a scalar when !one_ok, is
 * reported and gives -1. dcv_yin_item() then returns item i.
 */
long dcv_yin_count(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                   bool one_ok);
const struct dcv_yin_node *dcv_yin_item(const struct dcv_yin_node *node, size_t i);

/*
 * Copies s for a message: at most max bytes, non-printable bytes shown as
 * '?', "..." appended when cut. Never use it on a secret.
 */
void dcv_yin_quote(const char *s, size_t max, char *out, size_t out_size);

#endif
