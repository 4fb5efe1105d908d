/*
 * main_dcv.c -- the one-shot `dcv` command.
 *
 * Exit status: 0 all good; 1 some FILE was refused (each one reported as
 * "dcv: FILE: reason", the others still processed); 2 usage or
 * configuration error; 3 (submit --wait) some job had no result in time.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dcv/dcv.h"
#include "dcv/names.h"
#include "show.h"
#include "util.h"

static const char usage_text[] =
    "usage: dcv records [--unique V] [--target D] [--ttl N] [--legacy] FILE...\n"
    "       dcv show    [--unique V] [--target D] [--ttl N] [--legacy] FILE...\n"
    "       dcv publish|check|withdraw -c CONFIG [--timeout S] [--unique V] [--target D] "
    "FILE...\n"
    "       dcv status -c CONFIG [--json]\n"
    "       dcv submit (-c CONFIG | --spool DIR) [--unique V] [--target D] [--expect LINE]\n"
    "                  [--wait] [--timeout S] FILE...\n"
    "       dcv --help | --version\n"
    "\n"
    "records   print the DNS CNAME record of every name, as zone-file lines\n"
    "show      print everything about each CSR as one YAML document per file\n"
    "publish   add the records with TSIG-signed RFC 2136 UPDATEs to every primary of\n"
    "          their zones, and confirm each primary serves them\n"
    "check     wait until every authoritative address, then every resolver, serves\n"
    "          the records the way the CA looks for them\n"
    "withdraw  delete exactly the records and wait until no authoritative address\n"
    "          serves them\n"
    "status    what dcvd is doing: jobs per state, the oldest in flight, failures\n"
    "          (--json: the same as one JSON object, every job in full)\n"
    "submit    drop the CSRs into dcvd's spool (each printed as its job's NAME);\n"
    "          --wait: until each job is visible or failed, printing its status\n"
    "\n"
    "  --unique V    the CA's unique value (1-20 letters or digits)\n"
    "  --target D    target base domain: sectigo.com (default) or comodoca.com\n"
    "  --ttl N       record TTL in seconds (default 300; publish takes the config's)\n"
    "  --legacy      the retired Comodo SHA-1 record instead (show: as well)\n"
    "  -c CONFIG     the dcvd configuration: zones, primaries, keys, resolvers\n"
    "  --timeout S   publish/check/withdraw give up after S seconds (default 30);\n"
    "                submit --wait after S seconds (default 0: no limit)\n"
    "  --spool DIR   submit: the spool, for submitters who may not read CONFIG\n"
    "  --expect LINE submit: a record the CA returned; a FILE whose record differs\n"
    "                is refused\n"
    "  --wait        submit: wait for the jobs' results (dcvd writes them for this\n"
    "                run only; other submitters cannot read them)\n"
    "FILE is a CSR in PEM or DER (at most 64 KiB); '-' reads standard input.\n"
    "Exit status: 0 done, 1 some FILE failed (each named on stderr), 2 usage or\n"
    "configuration error, 3 submit --wait: some job had no result in time.\n"
    "See dcv(1), dcvd.yaml(5) and dcvd(8).\n";

void dcv_cli_usage(FILE *f)
{
	fputs(usage_text, f);
}

int dcv_cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dcv: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'dcv --help'.\n");
	return 2;
}

int dcv_cli_parse_ttl(const char *arg, uint32_t *ttl)
{
	char *end = NULL;
	unsigned long v = strtoul(arg, &end, 10);

	if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || v > 2147483647UL)
		return -1;
	*ttl = (uint32_t)v;
	return 0;
}

/* Options shared by records and show. */
struct offline_args {
	struct dcv_opts opts;
	struct dcv_opts_buf buf;
	uint32_t ttl;
	bool legacy;
	int first_file;
};

static int parse_offline(int argc, char **argv, struct offline_args *a)
{
	static const struct option longopts[] = {
	    {"unique", required_argument, NULL, 'u'}, {"target", required_argument, NULL, 't'},
	    {"ttl", required_argument, NULL, 'T'},    {"legacy", no_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct dcv_why why = {""};
	int c;

	a->ttl = DCV_DEFAULT_TTL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			a->opts.unique = optarg;
			break;
		case 't':
			a->opts.target = optarg;
			break;
		case 'T':
			if (dcv_cli_parse_ttl(optarg, &a->ttl) < 0)
				return dcv_cli_usage_error("--ttl '%s': not a number of seconds "
				                           "from 0 to 2147483647",
				                           optarg);
			break;
		case 'L':
			a->legacy = true;
			break;
		case 'h':
			dcv_cli_usage(stdout);
			exit(0);
		default:
			return dcv_cli_usage_error("%s", "invalid option");
		}
	}
	if (dcv_opts_check(&a->opts, &a->buf, &why) < 0)
		return dcv_cli_usage_error("%s", why.text);
	if (optind >= argc)
		return dcv_cli_usage_error("%s", "no FILE given");
	a->first_file = optind;
	return 0;
}

/*
 * Standard output is flushed only before something goes to standard error,
 * so that both read in order on a terminal without a write per file.
 */
static void print_warnings(const char *file, const struct dcv_request *req)
{
	if (req->n_warnings > 0)
		fflush(stdout);
	for (size_t i = 0; i < req->n_warnings; i++)
		fprintf(stderr, "dcv: %s: warning: %s\n", file, req->warnings[i]);
}

static int run_offline(int argc, char **argv, bool show)
{
	struct offline_args a = {0};
	struct dcv_request *req = NULL;
	struct dcv_strv lines = {0};
	struct dcv_psl *psl = NULL;
	struct dcv_why why = {""};
	int status = parse_offline(argc, argv, &a);

	if (status != 0)
		goto out;
	if (dcv_psl_load(&psl, &why) < 0) {
		fprintf(stderr, "dcv: %s\n", why.text);
		status = 2;
		goto out;
	}
	for (int i = a.first_file; i < argc; i++) {
		const char *file = argv[i];
		int rc;

		dcv_why_clear(&why);
		rc = dcv_request_load(file, psl, &a.opts, &req, &why);
		if (rc == DCV_OK && show)
			rc = dcv_show_emit(stdout, file, req, a.ttl, a.legacy, &why);
		else if (rc == DCV_OK)
			rc = dcv_records_lines(req, a.ttl, a.legacy, &lines, &why);
		if (rc < 0) {
			fflush(stdout);
			fprintf(stderr, "dcv: %s: %s\n", file, why.text);
			status = 1;
		} else {
			if (!show)
				print_warnings(file, req);
			for (size_t l = 0; l < lines.n; l++)
				printf("%s\n", lines.v[l]);
		}
		dcv_strv_free(&lines);
		dcv_request_free(req);
		req = NULL;
	}
out:
	if (fflush(stdout) != 0 && status == 0) {
		fprintf(stderr, "dcv: cannot write to standard output\n");
		status = 1;
	}
	dcv_psl_free(psl);
	return status;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	int status = 2;

	if (cmd == NULL) {
		dcv_cli_usage(stderr);
		goto out;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		dcv_cli_usage(stdout);
		status = 0;
	} else if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("dcv %s\n", DCV_VERSION);
		status = 0;
	} else if (strcmp(cmd, "records") == 0) {
		status = run_offline(argc - 1, argv + 1, false);
	} else if (strcmp(cmd, "show") == 0) {
		status = run_offline(argc - 1, argv + 1, true);
	} else if (strcmp(cmd, "submit") == 0) {
		status = dcv_cli_submit_main(argc - 1, argv + 1);
	} else if (strcmp(cmd, "status") == 0) {
		status = dcv_cli_status_main(argc - 1, argv + 1);
	} else {
		status = dcv_cli_net_main(cmd, argc - 1, argv + 1);
	}
out:
	return status;
}
