/*
 * test_yin.c -- the YAML reader (yin.c) on its own: null spellings, the
 * positions of libyaml's reader and parser errors (counted by hand from
 * the inputs), what it refuses (aliases, a second document, deep nesting),
 * the helpers' messages for keys, lists and values, the cap on errors,
 * and the quoting of text for messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tufiles.h"
#include "yin.h"

/* Parses text (strlen) as "t.yaml"; returns the code; errors in *errors. */
static int parse(struct dcv_yin *y, const char *text, struct dcv_strv *errors)
{
	return dcv_yin_parse(y, "t.yaml", (const unsigned char *)text, strlen(text), errors);
}

/* Parses text, which must fail with DCV_EINVAL and exactly the message want. */
static void refused(const char *text, const char *want)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin y;

	assert_int_equal(parse(&y, text, &errors), DCV_EINVAL);
	if (errors.n != 1 || strncmp(errors.v[0], want, strlen(want)) != 0)
		fail_msg("'%s': got %zu errors, first '%s', want '%s'", text, errors.n,
		         errors.n ? errors.v[0] : "", want);
	dcv_yin_free(&y);
	dcv_strv_free(&errors);
}

static void test_nulls(void **state)
{
	static const char text[] =
	    "a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: ''\ng: 'null'\nh: nULL\n";
	static const bool want_null[] = {true, true, true, true, true, false, false, false};
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin y;

	assert_int_equal(parse(&y, text, &errors), DCV_OK);
	assert_int_equal(y.root->kind, DCV_YIN_MAP);
	assert_int_equal(y.root->n_kids, 16);
	for (size_t i = 0; i < 8; i++) {
		const struct dcv_yin_node *v = y.root->kids[2 * i + 1];

		assert_int_equal(v->null, want_null[i]);
		assert_string_equal(dcv_yin_kind_text(v),
		                    want_null[i] ? "nothing" : "a single value");
		assert_int_equal(v->line, i + 1);
	}
	assert_string_equal(dcv_yin_kind_text(NULL), "nothing");
	assert_string_equal(dcv_yin_kind_text(y.root), "a mapping");
	dcv_yin_free(&y);
	dcv_yin_free(NULL);
	tu_expect_n(&errors, 0);
}

/* libyaml's errors at their line and column. */
static void test_syntax_errors(void **state)
{
	/* The reader knows a byte offset only: 0xff is the 9th byte, line 2, column 4. */
	refused("a: b\nc: \xff\n", "t.yaml:2:4: YAML syntax error: invalid leading UTF-8 octet");
	refused("a: b\nc: \x01\n",
	        "t.yaml:2:4: YAML syntax error: control characters are not allowed");
	/* A parser error with its context: the flow sequence opened on line 1. */
	refused("a: [1, 2\nb: 3\n",
	        "t.yaml:2:2: YAML syntax error: did not find expected ',' or ']' (while parsing a "
	        "flow sequence at line 1)");
	/* A scanner error without a parser context. */
	refused("a: b: c\n",
	        "t.yaml:1:5: YAML syntax error: mapping values are not allowed in this "
	        "context");
	refused("a: &x 1\nb: *x\n",
	        "t.yaml:2:4: YAML aliases are not supported here; write the value out");
	refused("--- a\n--- b\n", "t.yaml:2:1: only one YAML document is allowed here");
}

static void test_depth(void **state)
{
	char text[2 * DCV_YIN_MAX_DEPTH + 8];
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin y;
	size_t n = 0;

	/* As deep as allowed: a scalar in 32 lists. */
	for (int i = 0; i < DCV_YIN_MAX_DEPTH; i++)
		text[n++] = '[';
	text[n++] = 'x';
	for (int i = 0; i < DCV_YIN_MAX_DEPTH; i++)
		text[n++] = ']';
	text[n] = '\0';
	assert_int_equal(parse(&y, text, &errors), DCV_OK);
	assert_int_equal(dcv_yin_count(&y, y.root, "deep", false), 1);
	dcv_yin_free(&y);
	/* One more: refused at the 33rd '['. */
	memmove(text + 1, text, n + 1);
	text[0] = '[';
	text[n + 1] = ']';
	text[n + 2] = '\0';
	refused(text, "t.yaml:1:33: nested deeper than 32 levels");
	dcv_strv_free(&errors);
}

static void test_fields(void **state)
{
	static const char text[] = "name: a\n? [x]\n: 1\n~: 2\nname: b\nother: 3\nport: 53\n";
	static const char *const keys[] = {"name", "port", NULL};
	struct dcv_strv errors = {NULL, 0, 0};
	const struct dcv_yin_node *values[2], *key_nodes[2];
	struct dcv_yin y;

	assert_int_equal(parse(&y, text, &errors), DCV_OK);
	assert_true(dcv_yin_fields(&y, y.root, "server", keys, values, key_nodes));
	assert_string_equal(values[0]->value, "a");
	assert_string_equal(values[1]->value, "53");
	assert_int_equal(key_nodes[0]->line, 1);
	assert_int_equal(key_nodes[1]->line, 7);
	tu_expect_n(&errors, 4);
	assert_string_equal(errors.v[0],
	                    "t.yaml:2:3: server: a key must be a plain name, found a list");
	assert_string_equal(errors.v[1],
	                    "t.yaml:4:1: server: a key must be a plain name, found nothing");
	assert_string_equal(errors.v[2],
	                    "t.yaml:5:1: server: duplicate key 'name' (first at line 1)");
	assert_string_equal(errors.v[3],
	                    "t.yaml:6:1: server: unknown key 'other' (known: name, port)");
	dcv_strv_free(&errors);
	/* Without key nodes; and not a mapping (a list, nothing). */
	assert_true(dcv_yin_fields(&y, y.root, "server", keys, values, NULL));
	dcv_strv_free(&errors);
	assert_false(dcv_yin_fields(&y, y.root->kids[2], "server", keys, values, key_nodes));
	assert_null(values[0]);
	assert_null(key_nodes[1]);
	assert_false(dcv_yin_fields(&y, NULL, "zone", keys, values, NULL));
	tu_expect_n(&errors, 2);
	assert_string_equal(errors.v[0], "t.yaml:2:3: server: expected a mapping, found a list");
	assert_string_equal(errors.v[1], "t.yaml:1:1: zone: expected a mapping, found nothing");
	dcv_strv_free(&errors);
	dcv_yin_free(&y);
}

static void test_lists_and_values(void **state)
{
	static const char text[] = "l: [a, b]\ns: one\nm: {k: v}\nn: ~\nz: \"x\\0y\"\n";
	struct dcv_strv errors = {NULL, 0, 0};
	const struct dcv_yin_node *l, *s, *m, *n, *z;
	struct dcv_yin y;

	assert_int_equal(parse(&y, text, &errors), DCV_OK);
	l = y.root->kids[1];
	s = y.root->kids[3];
	m = y.root->kids[5];
	n = y.root->kids[7];
	z = y.root->kids[9];
	assert_int_equal(dcv_yin_count(&y, l, "l", false), 2);
	assert_int_equal(dcv_yin_count(&y, s, "s", true), 1);
	assert_int_equal(dcv_yin_count(&y, n, "n", false), 0);
	assert_int_equal(dcv_yin_count(&y, NULL, "none", false), 0);
	assert_int_equal(dcv_yin_count(&y, s, "s", false), -1);
	assert_int_equal(dcv_yin_count(&y, m, "m", true), -1);
	assert_string_equal(dcv_yin_item(l, 1)->value, "b");
	assert_null(dcv_yin_item(l, 2));
	assert_ptr_equal(dcv_yin_item(s, 0), s);
	assert_null(dcv_yin_item(s, 1));
	assert_null(dcv_yin_item(NULL, 0));
	assert_string_equal(dcv_yin_text(&y, s, "s"), "one");
	assert_null(dcv_yin_text(&y, l, "l"));
	assert_null(dcv_yin_text(&y, n, "n"));
	assert_null(dcv_yin_text(&y, NULL, "gone"));
	assert_true(z->nul_byte);
	assert_int_equal(z->len, 3);
	assert_null(dcv_yin_text(&y, z, "z"));
	tu_expect_n(&errors, 6);
	assert_string_equal(errors.v[0], "t.yaml:2:4: s: expected a list, found a single value");
	assert_string_equal(errors.v[1], "t.yaml:3:4: m: expected a list, found a mapping");
	assert_string_equal(errors.v[2], "t.yaml:1:4: l: expected a single value, found a list");
	assert_string_equal(errors.v[3], "t.yaml:4:4: n: a value is required");
	assert_string_equal(errors.v[4], "t.yaml:1:1: gone: a value is required");
	assert_string_equal(errors.v[5], "t.yaml:5:4: z: the value holds a NUL byte");
	dcv_strv_free(&errors);
	dcv_yin_free(&y);
}

/* After DCV_YIN_MAX_ERRORS one line says the rest are left out; without a list, none is kept. */
static void test_error_cap(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin y;

	assert_int_equal(parse(&y, "a", &errors), DCV_OK);
	for (int i = 0; i < DCV_YIN_MAX_ERRORS + 5; i++)
		dcv_yin_error(&y, NULL, "problem %d", i);
	tu_expect_n(&errors, DCV_YIN_MAX_ERRORS + 1);
	assert_string_equal(errors.v[DCV_YIN_MAX_ERRORS - 1], "t.yaml:1:1: problem 99");
	assert_string_equal(errors.v[DCV_YIN_MAX_ERRORS],
	                    "t.yaml: more than 100 problems; the rest are not shown");
	assert_int_equal(y.n_errors, DCV_YIN_MAX_ERRORS + 5);
	dcv_strv_free(&errors);
	dcv_yin_free(&y);
	assert_int_equal(parse(&y, "a: [", NULL), DCV_EINVAL);
	assert_int_equal(y.n_errors, 1);
	dcv_yin_free(&y);
	/* No input at all is an empty document. */
	assert_int_equal(dcv_yin_parse(&y, "t.yaml", NULL, 0, &errors), DCV_OK);
	assert_null(y.root);
	dcv_yin_free(&y);
}

static void test_quote(void **state)
{
	char out[16];

	memset(out, 'z', sizeof(out));
	dcv_yin_quote("abc", 10, out, 0);
	assert_int_equal(out[0], 'z');
	dcv_yin_quote("a\tb\x7f\xc3\xa9", 10, out, sizeof(out));
	assert_string_equal(out, "a?b???");
	dcv_yin_quote("abcdefghij", 4, out, sizeof(out));
	assert_string_equal(out, "abcd...");
	/* Cut by the room: no room left for "...". */
	dcv_yin_quote("abcdefghijklmnopqrstuvwxyz", 100, out, sizeof(out));
	assert_string_equal(out, "abcdefghijklmno");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nulls),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_lists_and_values),
	    cmocka_unit_test(test_error_cap),
	    cmocka_unit_test(test_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
