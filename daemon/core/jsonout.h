/*
 * jsonout.h -- JSON strings for `dcv status --json` and whatever else
 * prints JSON: any byte string in, valid JSON (and so valid UTF-8) out.
 *
 * Printable UTF-8 is copied; '"' and '\\' are escaped; control
 * characters (C0, DEL, and C1 as U+0080..U+009F) become \u00XX (\n, \t and
 * friends their short forms); a byte that is not part of well-formed UTF-8
 * becomes the six characters \\xNN, i.e. the text "\xNN" once decoded -- the
 * way dcv_escape() shows such bytes in messages, logs and status files --
 * so that the output is valid JSON whatever the input held.
 */
#ifndef DCV_JSONOUT_H
#define DCV_JSONOUT_H

#include <stddef.h>
#include <stdio.h>

/* Writes s (len bytes) as a JSON string, quotes included. Errors show in ferror(f). */
void dcv_json_string(FILE *f, const char *s, size_t len);

/* The same for a NUL-terminated string; NULL writes null. */
void dcv_json_cstr(FILE *f, const char *s);

#endif
