/*
 * example.c -- the public API of libdcvcore in use, built against the
 * installed headers and library alone (tests/api/api.sh): CSR files in,
 * `dcv records` lines out.
 */
#include <stdio.h>

#include <dcv/dcv.h>
#include <dcv/names.h>

int main(int argc, char **argv)
{
	struct dcv_psl *psl = NULL;
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf obuf;
	struct dcv_why why;
	int status = 1;

	if (dcv_psl_load(&psl, &why) < 0 || dcv_opts_check(&opts, &obuf, &why) < 0) {
		fprintf(stderr, "example: %s\n", why.text);
		goto out;
	}
	status = 0;
	for (int i = 1; i < argc; i++) {
		struct dcv_request *req = NULL;
		struct dcv_strv bases = {NULL, 0, 0};
		char line[512];

		if (dcv_request_load(argv[i], psl, &opts, &req, &why) < 0 ||
		    dcv_request_bases(req, &bases) < 0) {
			fprintf(stderr, "example: %s: %s\n", argv[i], why.text);
			status = 1;
		}
		for (size_t k = 0; k < bases.n; k++) {
			if (dcv_record_line(req, bases.v[k], DCV_DEFAULT_TTL, line, sizeof(line),
			                    &why) < 0) {
				fprintf(stderr, "example: %s: %s\n", argv[i], why.text);
				status = 1;
				continue;
			}
			printf("%s\n", line);
		}
		dcv_strv_free(&bases);
		dcv_request_free(req);
	}
out:
	dcv_psl_free(psl);
	return status;
}
