/*
 * jsonout.c -- JSON strings from any bytes (jsonout.h).
 */
#include <string.h>

#include "jsonout.h"
#include "util.h"

/* The code point of a well-formed sequence of n bytes (n from dcv_utf8_printable_len or 2). */
static unsigned json_code_point(const unsigned char *s, size_t n)
{
	if (n == 2)
		return ((unsigned)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
	return s[0];
}

void dcv_json_string(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t n = dcv_utf8_printable_len(p + i, len - i);
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
			i++;
		} else if (n > 0) {
			fwrite(p + i, 1, n, f);
			i += n;
		} else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') {
			fprintf(f, "\\%c",
			        c == '\n'   ? 'n'
			        : c == '\t' ? 't'
			        : c == '\r' ? 'r'
			        : c == '\b' ? 'b'
			                    : 'f');
			i++;
		} else if (c < 0x80) {
			/* C0 controls and DEL. */
			fprintf(f, "\\u%04x", c);
			i++;
		} else if (c == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
			/* A C1 control, well-formed but not printable: by its code point. */
			fprintf(f, "\\u%04x", json_code_point(p + i, 2));
			i += 2;
		} else {
			/* Not UTF-8: shown as dcv_escape() shows it, as text. */
			fprintf(f, "\\\\x%02x", c);
			i++;
		}
	}
	fputc('"', f);
}

void dcv_json_cstr(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		dcv_json_string(f, s, strlen(s));
}
