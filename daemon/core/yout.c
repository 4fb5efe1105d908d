/* yout.c -- libyaml emitter wrapper with sticky errors. */
#include <stdlib.h>
#include <string.h>

#include "yout.h"

static int mem_write(void *data, unsigned char *buf, size_t size)
{
	struct yout *y = data;
	unsigned char *grown = NULL;
	size_t cap = y->mem_cap ? y->mem_cap : 1024;

	while (cap < y->mem_len + size)
		cap *= 2;
	if (cap != y->mem_cap) {
		grown = realloc(y->mem, cap);
		if (grown == NULL)
			return 0;
		y->mem = grown;
		y->mem_cap = cap;
	}
	memcpy(y->mem + y->mem_len, buf, size);
	y->mem_len += size;
	return 1;
}

static void emit(struct yout *y, yaml_event_t *ev, int ok)
{
	if (y->failed || !ok) {
		y->failed = true;
		if (ok)
			yaml_event_delete(ev);
		return;
	}
	if (!yaml_emitter_emit(&y->emitter, ev))
		y->failed = true;
}

static void begin(struct yout *y)
{
	yaml_event_t ev;

	yaml_emitter_set_unicode(&y->emitter, 1);
	yaml_emitter_set_width(&y->emitter, -1);
	emit(y, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	emit(y, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0));
}

void yout_begin_file(struct yout *y, FILE *f)
{
	memset(y, 0, sizeof(*y));
	if (!yaml_emitter_initialize(&y->emitter)) {
		y->failed = true;
		return;
	}
	yaml_emitter_set_output_file(&y->emitter, f);
	begin(y);
}

void yout_begin_mem(struct yout *y)
{
	memset(y, 0, sizeof(*y));
	if (!yaml_emitter_initialize(&y->emitter)) {
		y->failed = true;
		return;
	}
	yaml_emitter_set_output(&y->emitter, mem_write, y);
	begin(y);
}

static void scalar(struct yout *y, const char *s, yaml_scalar_style_t style, int plain_implicit)
{
	yaml_event_t ev;

	emit(y, &ev,
	     yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
	                                  plain_implicit, 1, style));
}

/*
 * A plain scalar that a YAML 1.1 reader would take for a number, boolean,
 * null or date must be quoted to stay a string. libyaml checks only syntax,
 * so this errs on the quoting side: anything starting like a number.
 */
static bool looks_typed(const char *s)
{
	static const char *const words[] = {"null", "true", "false", "yes", "no",
	                                    "on",   "off",  "y",     "n",   "~"};
	char low[8];
	size_t n = strlen(s);

	if (n == 0 || strchr("0123456789+-.", s[0]) != NULL)
		return true;
	if (n >= sizeof(low))
		return false;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(low, words[i]) == 0)
			return true;
	return false;
}

void yout_str(struct yout *y, const char *s)
{
	if (s == NULL)
		s = "";
	/* plain_implicit lets libyaml pick plain style where the syntax allows it. */
	scalar(y, s, YAML_ANY_SCALAR_STYLE, looks_typed(s) ? 0 : 1);
}

void yout_literal(struct yout *y, const char *s)
{
	scalar(y, s, YAML_LITERAL_SCALAR_STYLE, 0);
}

void yout_plain(struct yout *y, const char *s)
{
	scalar(y, s, YAML_PLAIN_SCALAR_STYLE, 1);
}

void yout_bool(struct yout *y, bool v)
{
	yout_plain(y, v ? "true" : "false");
}

void yout_map(struct yout *y)
{
	yaml_event_t ev;

	emit(y, &ev,
	     yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static void seq(struct yout *y, yaml_sequence_style_t style)
{
	yaml_event_t ev;

	emit(y, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, style));
}

void yout_seq(struct yout *y)
{
	seq(y, YAML_BLOCK_SEQUENCE_STYLE);
}

void yout_flow_seq(struct yout *y)
{
	seq(y, YAML_FLOW_SEQUENCE_STYLE);
}

void yout_end_map(struct yout *y)
{
	yaml_event_t ev;

	emit(y, &ev, yaml_mapping_end_event_initialize(&ev));
}

void yout_end_seq(struct yout *y)
{
	yaml_event_t ev;

	emit(y, &ev, yaml_sequence_end_event_initialize(&ev));
}

void yout_kv(struct yout *y, const char *key, const char *value)
{
	yout_str(y, key);
	yout_str(y, value);
}

int yout_end(struct yout *y)
{
	yaml_event_t ev;

	emit(y, &ev, yaml_document_end_event_initialize(&ev, 1));
	emit(y, &ev, yaml_stream_end_event_initialize(&ev));
	if (!y->failed && !yaml_emitter_flush(&y->emitter))
		y->failed = true;
	yaml_emitter_delete(&y->emitter);
	if (y->failed) {
		free(y->mem);
		y->mem = NULL;
		y->mem_len = 0;
	}
	return y->failed ? -1 : 0;
}
