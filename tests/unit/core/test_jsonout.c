/*
 * test_jsonout.c -- any bytes make a valid JSON string, and Python's json
 * module (the oracle) reads back what the bytes mean: printable UTF-8 as it
 * is, controls as themselves, and bytes that are not UTF-8 as the text
 * \xNN -- what bytes.decode('utf-8', 'backslashreplace') gives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonout.h"
#include "testutil.h"

static void put_case(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", (unsigned char)s[i]);
	fputc('\t', f);
	dcv_json_string(f, s, len);
	fputc('\n', f);
}

static void test_python_reads_it_back(void **state)
{
	static const char *const fixed[] = {
	    "",
	    "plain",
	    "quote\" backslash\\ slash/",
	    "nl\n tab\t cr\r bs\b ff\f",
	    "\x01\x1f\x7f",
	    "caf\xc3\xa9",
	    "\xc2\x80\xc2\x9f C1",
	    "\xe2\x80\xa8 line sep",
	    "\xf0\x9f\x98\x80 emoji",
	    "\xff\xfe broken",
	    "\xc3 cut",
	    "\xed\xa0\x80 surrogate",
	    "\xc0\xaf overlong",
	    "\xf4\x90\x80\x80 too high",
	    "a\\x01b escaped already",
	};
	char path[] = "/tmp/test_jsonout.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	char buf[64];

	(void)state;
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		put_case(f, fixed[i], strlen(fixed[i]));
	put_case(f, "nul\0inside", 10);
	srand(31);
	for (int n = 0; n < 2000; n++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(rand() % 4 == 0 ? 0x80 + rand() % 0x80 : rand() % 256);
		put_case(f, buf, len);
	}
	dcv_json_cstr(f, NULL);
	fputc('\n', f);
	assert_int_equal(fclose(f), 0);
	tu_run("python3 -c '"
	       "import json, sys\n"
	       "lines = open(sys.argv[1], \"rb\").read().split(b\"\\n\")\n"
	       "assert lines[-1] == b\"\" and json.loads(lines[-2]) is None\n"
	       "for line in lines[:-2]:\n"
	       "    hx, js = line.split(b\"\\t\", 1)\n"
	       "    js.decode(\"utf-8\")\n"
	       "    want = bytes.fromhex(hx.decode()).decode(\"utf-8\", \"backslashreplace\")\n"
	       "    got = json.loads(js)\n"
	       "    assert got == want, (hx, js, got, want)\n"
	       "' %s",
	       path);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_python_reads_it_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
