/*
 * yout.h -- a thin writer over libyaml's emitter for the documents dcv and
 * dcvd write (`dcv show`, status files, job state).
 *
 * The first failure sticks: later calls do nothing and yout_end() reports
 * it, so callers write a whole document and check once. Output goes to a
 * FILE* or to a growable memory buffer (for files written atomically).
 */
#ifndef DCV_YOUT_H
#define DCV_YOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

struct yout {
	yaml_emitter_t emitter;
	bool failed;
	/* memory sink */
	unsigned char *mem;
	size_t mem_len;
	size_t mem_cap;
};

/* Starts a stream and one explicit document ("---"). */
void yout_begin_file(struct yout *y, FILE *f);
void yout_begin_mem(struct yout *y);

void yout_str(struct yout *y, const char *s);     /* a scalar, quoted as needed */
void yout_literal(struct yout *y, const char *s); /* multi-line text as a | block */
void yout_plain(struct yout *y, const char *s);   /* a plain scalar: numbers, true */
void yout_bool(struct yout *y, bool v);
void yout_map(struct yout *y);
void yout_seq(struct yout *y);
void yout_flow_seq(struct yout *y);
void yout_end_map(struct yout *y);
void yout_end_seq(struct yout *y);

/* key: string value */
void yout_kv(struct yout *y, const char *key, const char *value);

/*
 * Ends the document and the stream and frees the emitter. Returns 0 or -1.
 * For a memory sink the caller takes y->mem (y->mem_len bytes) and frees it.
 */
int yout_end(struct yout *y);

#endif
