/* yin.c -- YAML documents as positioned trees, built from libyaml events. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "yin.h"

static void node_free(struct dcv_yin_node *node)
{
	if (node == NULL)
		return;
	for (size_t i = 0; i < node->n_kids; i++)
		node_free(node->kids[i]);
	free(node->kids);
	if (node->value != NULL) {
		OPENSSL_cleanse(node->value, node->len);
		free(node->value);
	}
	free(node);
}

void dcv_yin_free(struct dcv_yin *y)
{
	if (y == NULL)
		return;
	node_free(y->root);
	y->root = NULL;
}

static void push_error(struct dcv_yin *y, unsigned long line, unsigned long col, const char *msg)
{
	int rc = DCV_OK;

	if (y->errors == NULL)
		goto out;
	if (y->n_errors < DCV_YIN_MAX_ERRORS)
		rc = dcv_strv_pushf(y->errors, "%s:%lu:%lu: %s", y->name, line, col, msg);
	else if (y->n_errors == DCV_YIN_MAX_ERRORS)
		rc = dcv_strv_pushf(y->errors, "%s: more than %d problems; the rest are not shown",
		                    y->name, DCV_YIN_MAX_ERRORS);
out:
	if (rc < 0)
		y->oom = true;
	y->n_errors++;
}

static void verror_at(struct dcv_yin *y, unsigned long line, unsigned long col, const char *fmt,
                      va_list ap) __attribute__((format(printf, 4, 0)));
static void verror_at(struct dcv_yin *y, unsigned long line, unsigned long col, const char *fmt,
                      va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0) {
		y->oom = true;
		y->n_errors++;
		return;
	}
	push_error(y, line, col, msg);
	free(msg);
}

static void error_at(struct dcv_yin *y, unsigned long line, unsigned long col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error_at(struct dcv_yin *y, unsigned long line, unsigned long col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(y, line, col, fmt, ap);
	va_end(ap);
}

void dcv_yin_error(struct dcv_yin *y, const struct dcv_yin_node *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(y, node ? node->line : 1, node ? node->col : 1, fmt, ap);
	va_end(ap);
}

/*
 * libyaml's reader reports a byte offset only (bad UTF-8, control
 * characters); turn it into a line and column like the other errors.
 */
static void offset_position(const unsigned char *buf, size_t len, size_t offset,
                            unsigned long *line, unsigned long *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void syntax_error(struct dcv_yin *y, const yaml_parser_t *parser, const unsigned char *buf,
                         size_t len)
{
	const char *problem = parser->problem ? parser->problem : "unknown problem";
	unsigned long line = 0, col = 0;

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		y->oom = true;
		break;
	case YAML_READER_ERROR:
		offset_position(buf, len, parser->problem_offset, &line, &col);
		error_at(y, line, col, "YAML syntax error: %s", problem);
		break;
	default:
		line = (unsigned long)parser->problem_mark.line + 1;
		col = (unsigned long)parser->problem_mark.column + 1;
		if (parser->context != NULL)
			error_at(y, line, col, "YAML syntax error: %s (%s at line %lu)", problem,
			         parser->context, (unsigned long)parser->context_mark.line + 1);
		else
			error_at(y, line, col, "YAML syntax error: %s", problem);
		break;
	}
}

static struct dcv_yin_node *node_new(enum dcv_yin_kind kind, const yaml_mark_t *mark)
{
	struct dcv_yin_node *node = calloc(1, sizeof(*node));

	if (node == NULL)
		return NULL;
	node->kind = kind;
	node->line = (unsigned long)mark->line + 1;
	node->col = (unsigned long)mark->column + 1;
	return node;
}

static int scalar_fill(struct dcv_yin_node *node, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;

	node->value = malloc(n + 1);
	if (node->value == NULL)
		return DCV_ENOMEM;
	if (n > 0)
		memcpy(node->value, v, n);
	node->value[n] = '\0';
	node->len = n;
	node->nul_byte = memchr(node->value, '\0', n) != NULL;
	node->null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	             (n == 0 || strcmp(node->value, "~") == 0 || strcmp(node->value, "null") == 0 ||
	              strcmp(node->value, "Null") == 0 || strcmp(node->value, "NULL") == 0);
	return DCV_OK;
}

/* Hangs node below the innermost open collection (or makes it the root). */
static int attach(struct dcv_yin *y, struct dcv_yin_node **stack, size_t depth,
                  struct dcv_yin_node *node)
{
	struct dcv_yin_node *parent = NULL, **grown = NULL;
	size_t cap = 0;

	if (depth == 0) {
		node_free(y->root);
		y->root = node;
		return DCV_OK;
	}
	parent = stack[depth - 1];
	if (parent->n_kids == parent->cap_kids) {
		cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
		grown = realloc(parent->kids, cap * sizeof(*grown));
		if (grown == NULL)
			return DCV_ENOMEM;
		parent->kids = grown;
		parent->cap_kids = cap;
	}
	parent->kids[parent->n_kids++] = node;
	return DCV_OK;
}

/* One event into the tree. DCV_EINVAL after reporting, DCV_ENOMEM, 1 at the end. */
static int take_event(struct dcv_yin *y, const yaml_event_t *ev, struct dcv_yin_node **stack,
                      size_t *depth, int *docs)
{
	struct dcv_yin_node *node = NULL;
	unsigned long line = (unsigned long)ev->start_mark.line + 1;
	unsigned long col = (unsigned long)ev->start_mark.column + 1;
	int rc = DCV_OK;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		rc = 1;
		break;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			error_at(y, line, col, "only one YAML document is allowed here");
			rc = DCV_EINVAL;
		}
		break;
	case YAML_ALIAS_EVENT:
		error_at(y, line, col, "YAML aliases are not supported here; write the value out");
		rc = DCV_EINVAL;
		break;
	case YAML_SCALAR_EVENT:
		rc = DCV_ENOMEM;
		node = node_new(DCV_YIN_SCALAR, &ev->start_mark);
		if (node == NULL || scalar_fill(node, ev) < 0)
			break;
		rc = attach(y, stack, *depth, node);
		if (rc == DCV_OK)
			node = NULL;
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (*depth == DCV_YIN_MAX_DEPTH) {
			error_at(y, line, col, "nested deeper than %d levels", DCV_YIN_MAX_DEPTH);
			rc = DCV_EINVAL;
			break;
		}
		rc = DCV_ENOMEM;
		node = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? DCV_YIN_LIST : DCV_YIN_MAP,
		                &ev->start_mark);
		if (node == NULL)
			break;
		rc = attach(y, stack, *depth, node);
		if (rc == DCV_OK) {
			stack[(*depth)++] = node;
			node = NULL;
		}
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (*depth > 0)
			(*depth)--;
		break;
	default:
		break;
	}
	node_free(node);
	if (rc == DCV_ENOMEM)
		y->oom = true;
	return rc;
}

int dcv_yin_parse(struct dcv_yin *y, const char *name, const unsigned char *buf, size_t len,
                  struct dcv_strv *errors)
{
	struct dcv_yin_node *stack[DCV_YIN_MAX_DEPTH];
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t depth = 0;
	int docs = 0, step = DCV_OK;
	int rc = DCV_ENOMEM;

	memset(y, 0, sizeof(*y));
	y->name = name;
	y->errors = errors;
	if (!yaml_parser_initialize(&parser))
		return DCV_ENOMEM;
	/* libyaml asserts on a NULL string, even an empty one. */
	yaml_parser_set_input_string(&parser, buf != NULL ? buf : (const unsigned char *)"",
	                             buf != NULL ? len : 0);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(y, &parser, buf, len);
			rc = y->oom ? DCV_ENOMEM : DCV_EINVAL;
			goto out;
		}
		step = take_event(y, &ev, stack, &depth, &docs);
		/* The event's copy of a scalar may be a secret: wipe it before libyaml frees it. */
		if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.value != NULL)
			OPENSSL_cleanse(ev.data.scalar.value, ev.data.scalar.length);
		yaml_event_delete(&ev);
		if (step < 0) {
			rc = step;
			goto out;
		}
		if (step == 1)
			break;
	}
	rc = DCV_OK;
out:
	/* An error that could not be reported must not pass for a reported one. */
	if (rc == DCV_EINVAL && y->oom)
		rc = DCV_ENOMEM;
	yaml_parser_delete(&parser);
	return rc;
}

const char *dcv_yin_kind_text(const struct dcv_yin_node *node)
{
	if (node == NULL || (node->kind == DCV_YIN_SCALAR && node->null))
		return "nothing";
	if (node->kind == DCV_YIN_LIST)
		return "a list";
	if (node->kind == DCV_YIN_MAP)
		return "a mapping";
	return "a single value";
}

const char *dcv_yin_text(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what)
{
	if (node == NULL || (node->kind == DCV_YIN_SCALAR && node->null)) {
		dcv_yin_error(y, node, "%s: a value is required", what);
		return NULL;
	}
	if (node->kind != DCV_YIN_SCALAR) {
		dcv_yin_error(y, node, "%s: expected a single value, found %s", what,
		              dcv_yin_kind_text(node));
		return NULL;
	}
	if (node->nul_byte) {
		dcv_yin_error(y, node, "%s: the value holds a NUL byte", what);
		return NULL;
	}
	return node->value;
}

static void known_keys(const char *const *keys, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; keys[i] != NULL && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", keys[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

bool dcv_yin_fields(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                    const char *const *keys, const struct dcv_yin_node **values,
                    const struct dcv_yin_node **key_nodes)
{
	const struct dcv_yin_node *first[64];
	char quoted[64], known[512];
	size_t n_keys = 0, j = 0;

	while (keys[n_keys] != NULL && n_keys < 64)
		n_keys++;
	for (j = 0; j < n_keys; j++) {
		values[j] = NULL;
		first[j] = NULL;
		if (key_nodes != NULL)
			key_nodes[j] = NULL;
	}
	if (node == NULL || node->kind != DCV_YIN_MAP) {
		dcv_yin_error(y, node, "%s: expected a mapping, found %s", what,
		              dcv_yin_kind_text(node));
		return false;
	}
	for (size_t i = 0; i + 1 < node->n_kids; i += 2) {
		const struct dcv_yin_node *k = node->kids[i];

		if (k->kind != DCV_YIN_SCALAR || k->null || k->nul_byte) {
			dcv_yin_error(y, k, "%s: a key must be a plain name, found %s", what,
			              dcv_yin_kind_text(k));
			continue;
		}
		for (j = 0; j < n_keys; j++)
			if (strcmp(k->value, keys[j]) == 0)
				break;
		dcv_yin_quote(k->value, 40, quoted, sizeof(quoted));
		if (j == n_keys) {
			known_keys(keys, known, sizeof(known));
			dcv_yin_error(y, k, "%s: unknown key '%s' (known: %s)", what, quoted,
			              known);
			continue;
		}
		if (first[j] != NULL) {
			dcv_yin_error(y, k, "%s: duplicate key '%s' (first at line %lu)", what,
			              quoted, first[j]->line);
			continue;
		}
		first[j] = k;
		values[j] = node->kids[i + 1];
		if (key_nodes != NULL)
			key_nodes[j] = k;
	}
	return true;
}

long dcv_yin_count(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                   bool one_ok)
{
	if (node == NULL || (node->kind == DCV_YIN_SCALAR && node->null))
		return 0;
	if (node->kind == DCV_YIN_LIST)
		return (long)node->n_kids;
	if (node->kind == DCV_YIN_SCALAR && one_ok)
		return 1;
	dcv_yin_error(y, node, "%s: expected a list, found %s", what, dcv_yin_kind_text(node));
	return -1;
}

const struct dcv_yin_node *dcv_yin_item(const struct dcv_yin_node *node, size_t i)
{
	if (node == NULL)
		return NULL;
	if (node->kind == DCV_YIN_LIST)
		return i < node->n_kids ? node->kids[i] : NULL;
	return i == 0 ? node : NULL;
}

void dcv_yin_quote(const char *s, size_t max, char *out, size_t out_size)
{
	size_t n = 0, i = 0;

	if (out_size == 0)
		return;
	for (i = 0; s[i] != '\0' && i < max && n + 1 < out_size; i++) {
		unsigned char c = (unsigned char)s[i];
		out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[n] = '\0';
	if (s[i] != '\0' && n + 4 < out_size)
		memcpy(out + n, "...", 4);
}
