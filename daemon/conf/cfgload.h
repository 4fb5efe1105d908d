/*
 * cfgload.h -- internal to the configuration loader (config.c reads the
 * file and the plain options, cfgpeers.c the key, remote and zone lists,
 * keyfile.c the key files). Not an API: nothing outside those files
 * includes it.
 */
#ifndef DCV_CFGLOAD_H
#define DCV_CFGLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "yin.h"

struct cfg_loader {
	struct dcv_yin y;       /* the parsed file; errors go to y.errors */
	struct dcv_config *cfg; /* being filled */
	char *dir;              /* the configuration's folder, for relative key files */
	const struct dcv_yin_node *first_secret; /* an inline secret, for the mode warning */
};

/* Appends "FILE:LINE:COL: ..." to the configuration's warnings. */
void cfg_warn(struct cfg_loader *l, const struct dcv_yin_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Paths go into messages and logs as they are: one holding a control
 * character (a newline would start a line of its own) is refused.
 */
bool cfg_path_printable(const char *path);

/* "IP" / "IP@PORT" scalars or a list of them; empty allowed when !required. */
/* A duration option (dcv_duration_parse) of at least min seconds into *out; errors at node. */
void cfg_duration(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                  uint64_t min, uint64_t *out);

int cfg_addresses(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                  bool required, struct dcv_addr **out, size_t *n_out);

/*
 * For messages: 'TEXT' when text looks like an algorithm name, otherwise
 * "(value not shown)" -- it may be a secret written into the wrong line.
 */
void cfg_quote_algorithm(const char *text, char *out, size_t size);

/* The sections; each reports its own problems and fails only on DCV_ENOMEM. */
int cfg_keys(struct cfg_loader *l, const struct dcv_yin_node *node);
int cfg_remotes(struct cfg_loader *l, const struct dcv_yin_node *node);
int cfg_zones(struct cfg_loader *l, const struct dcv_yin_node *node);

#endif
