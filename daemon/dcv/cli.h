/* cli.h -- the parts of the `dcv` command shared between its source files. */
#ifndef DCV_CLI_H
#define DCV_CLI_H

#include <stdint.h>
#include <stdio.h>

void dcv_cli_usage(FILE *f);
int dcv_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int dcv_cli_parse_ttl(const char *arg, uint32_t *ttl);

/* publish | check | withdraw (cli_net.c) */
int dcv_cli_net_main(const char *cmd, int argc, char **argv);

/* submit (cli_submit.c): exit 0, 1 (a FILE or job failed), 2 (usage), 3 (no result in time) */
int dcv_cli_submit_main(int argc, char **argv);

/* status -c CONFIG (cli_status.c) */
int dcv_cli_status_main(int argc, char **argv);

#endif
