/*
 * cli_status.c -- `dcv status -c CONFIG`: what dcvd is doing, from its job
 * records (read only: nothing is moved or changed, whatever is found).
 *
 *   counts per state, files waiting in incoming/, the oldest job in flight
 *   and its age, then one line per job in flight or failed, with its reason.
 *
 * With --json the same state is one JSON object (print_json: every job,
 * not only those in flight or failed, with its records and times).
 *
 * Reading the job database takes write access to its lock file (LMDB keeps
 * its readers there): root and dcvd have it. Anyone else who may read the
 * spool gets what the status files in done/ and failed/ say, and a line
 * on stderr saying so.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "jsonout.h"
#include "store.h"
#include "util.h"
#include "yin.h"

static void age(uint64_t seconds, char *buf, size_t size)
{
	if (seconds < 120)
		snprintf(buf, size, "%llu s", (unsigned long long)seconds);
	else if (seconds < 7200)
		snprintf(buf, size, "%llu min", (unsigned long long)seconds / 60);
	else if (seconds < 172800)
		snprintf(buf, size, "%llu h", (unsigned long long)seconds / 3600);
	else
		snprintf(buf, size, "%llu days", (unsigned long long)seconds / 86400);
}

static bool in_flight(const struct dcv_job_record *r)
{
	return r->state <= DCV_JOB_PUBLISHED || r->state == DCV_JOB_WITHDRAWING;
}

static size_t count_incoming(const char *spool)
{
	char path[4200];
	DIR *d = NULL;
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/incoming", spool);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The scalar value of a top-level key of a status file, or "". */
static const char *status_value(const struct dcv_yin_node *root, const char *key)
{
	for (size_t i = 0; i + 1 < root->n_kids; i += 2)
		if (root->kids[i]->kind == DCV_YIN_SCALAR &&
		    strcmp(root->kids[i]->value, key) == 0 &&
		    root->kids[i + 1]->kind == DCV_YIN_SCALAR)
			return root->kids[i + 1]->value;
	return "";
}

/* The UTC time text at key of a status file as seconds, or 0 when missing or not one. */
static uint64_t status_time(const struct dcv_yin_node *root, const char *key)
{
	struct tm tm = {0};
	const char *end = strptime(status_value(root, key), "%Y-%m-%dT%H:%M:%SZ", &tm);

	return end != NULL && *end == '\0' ? (uint64_t)timegm(&tm) : 0;
}

/*
 * A record with what the status file at path says: job, file, step,
 * error, the hashes and every time (jobstatus.c writes them all).
 */
static bool status_record(const char *path, struct dcv_job_record *rec)
{
	struct dcv_strv errors = {0};
	struct dcv_yin y = {0};
	unsigned char *buf = NULL;
	const char *file = NULL, *dot = NULL;
	size_t len = 0;
	bool ok = false;

	memset(rec, 0, sizeof(*rec));
	if (dcv_read_file(path, 256 * 1024, &buf, &len, NULL) < 0 ||
	    dcv_yin_parse(&y, path, buf, len, &errors) < 0 || y.root == NULL ||
	    y.root->kind != DCV_YIN_MAP ||
	    dcv_job_state_parse(status_value(y.root, "step"), &rec->state) < 0)
		goto out;
	file = status_value(y.root, "file");
	dot = strrchr(file, '.');
	snprintf(rec->id, sizeof(rec->id), "%s", status_value(y.root, "job"));
	snprintf(rec->name, sizeof(rec->name), "%.*s", dot ? (int)(dot - file) : 0, file);
	snprintf(rec->ext, sizeof(rec->ext), "%s", dot ? dot + 1 : "");
	snprintf(rec->error, sizeof(rec->error), "%s", status_value(y.root, "error"));
	snprintf(rec->md5, sizeof(rec->md5), "%s", status_value(y.root, "md5"));
	snprintf(rec->sha256, sizeof(rec->sha256), "%s", status_value(y.root, "sha256"));
	rec->received = status_time(y.root, "received");
	rec->published = status_time(y.root, "published");
	/* Whether it was visible tells a withdrawal's state from a job's first steps. */
	rec->visible = status_time(y.root, "visible");
	rec->withdraw_due = status_time(y.root, "withdraw_due");
	rec->withdrawn = status_time(y.root, "withdrawn");
	rec->failed = status_time(y.root, "failed");
	ok = true;
out:
	dcv_yin_free(&y);
	dcv_strv_free(&errors);
	free(buf);
	return ok;
}

/* The jobs the status files in done/ and failed/ describe (dcvd's records unreadable). */
static int read_status_files(const char *spool, struct dcv_job_record **out, size_t *n_out)
{
	static const char *const dirs[] = {"done", "failed"};
	struct dcv_job_record *recs = NULL, *grown = NULL;
	size_t n = 0, cap = 0, len = 0;
	struct dirent *de = NULL;
	char path[4200];
	DIR *d = NULL;
	int rc = DCV_OK;

	for (size_t i = 0; i < 2 && rc == DCV_OK; i++) {
		snprintf(path, sizeof(path), "%s/%s", spool, dirs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while (rc == DCV_OK && (de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (de->d_name[0] == '.' || len < 8 ||
			    strcmp(de->d_name + len - 7, ".status"))
				continue;
			if (n == cap && (grown = realloc(recs, (cap = cap ? 2 * cap : 64) *
			                                           sizeof(*recs))) == NULL) {
				rc = DCV_ENOMEM;
				break;
			}
			recs = grown;
			snprintf(path, sizeof(path), "%s/%s/%s", spool, dirs[i], de->d_name);
			n += status_record(path, &recs[n]);
		}
		closedir(d);
	}
	*out = recs;
	*n_out = n;
	return rc;
}

/*
 * Reads every record; damaged ones are listed (into damaged), not moved.
 * *from_files: the job database could not be read, the status files were.
 */
static int load_records(const char *spool, struct dcv_job_record **out, size_t *n_out,
                        struct dcv_strv *damaged, bool *from_files)
{
	struct dcv_strv errors = {0};
	int rc = dcv_store_read(spool, out, n_out, &errors);

	*from_files = rc == DCV_EPERM;
	if (rc == DCV_EPERM) {
		fprintf(stderr,
		        "dcv: %s; reading the status files in done/ and failed/ instead (jobs in "
		        "flight are not listed: run as root or as dcvd for them)\n",
		        errors.n > 0 ? errors.v[errors.n - 1] : "the job database cannot be read");
		dcv_strv_free(&errors);
		return read_status_files(spool, out, n_out) < 0 ? -1 : 0;
	}
	for (size_t i = 0; i < errors.n; i++) {
		if (rc < 0)
			fprintf(stderr, "dcv: %s\n", errors.v[i]);
		else if (dcv_strv_push(damaged, errors.v[i]) < 0)
			rc = DCV_ENOMEM;
	}
	if (rc < 0 && errors.n == 0)
		fprintf(stderr, "dcv: %s/state: %s\n", spool, dcv_strerror(rc));
	dcv_strv_free(&errors);
	return rc < 0 ? -1 : 0;
}

/* The oldest job in flight, or NULL. */
static const struct dcv_job_record *oldest_in_flight(const struct dcv_job_record *recs, size_t n)
{
	const struct dcv_job_record *oldest = NULL;

	for (size_t i = 0; i < n; i++)
		if (in_flight(&recs[i]) && (oldest == NULL || recs[i].received < oldest->received))
			oldest = &recs[i];
	return oldest;
}

static void print_report(const struct dcv_config *cfg, struct dcv_job_record *recs, size_t n,
                         const struct dcv_strv *damaged)
{
	size_t counts[DCV_JOB_STATE_COUNT] = {0};
	const struct dcv_job_record *oldest = NULL;
	uint64_t now = (uint64_t)time(NULL);
	char when[32], how_long[32];

	for (size_t i = 0; i < damaged->n; i++)
		printf("damaged  %s\n", damaged->v[i]);
	for (size_t i = 0; i < n; i++)
		counts[recs[i].state]++;
	oldest = oldest_in_flight(recs, n);
	printf("spool %s: %zu jobs, %zu files waiting in incoming/\n", cfg->spool, n,
	       count_incoming(cfg->spool));
	for (int s = 0; s < DCV_JOB_STATE_COUNT; s++)
		printf("%s%s %zu", s ? ", " : "  ", dcv_job_state_name((enum dcv_job_state)s),
		       counts[s]);
	printf("\n");
	if (oldest != NULL) {
		dcv_utc_text(oldest->received, when, sizeof(when));
		age(now > oldest->received ? now - oldest->received : 0, how_long,
		    sizeof(how_long));
		printf("oldest job in flight: %s (%s), received %s, %s ago\n", oldest->id,
		       dcv_job_state_name(oldest->state), when, how_long);
	} else {
		printf("no job in flight\n");
	}
	for (size_t i = 0; i < n; i++) {
		const struct dcv_job_record *r = &recs[i];
		if (!in_flight(r) && r->state != DCV_JOB_FAILED)
			continue;
		dcv_utc_text(r->received, when, sizeof(when));
		printf("%-11s %s  %s.%s  received %s%s%s%s\n", dcv_job_state_name(r->state), r->id,
		       r->name, r->ext, when, r->error[0] ? "  error: " : "", r->error,
		       r->cleanup ? "  (records still being deleted)" : "");
	}
}

/* --- --json ------------------------------------------------------------------ */

static void json_time(FILE *f, const char *key, uint64_t t, bool first)
{
	char when[32];

	fprintf(f, "%s\"%s\": ", first ? "" : ", ", key);
	if (t == 0) {
		fputs("null", f);
		return;
	}
	dcv_utc_text(t, when, sizeof(when));
	dcv_json_cstr(f, when);
}

/* One job: what its status file says, and its step, cleanup and records in full. */
static void json_job(FILE *f, const struct dcv_job_record *r)
{
	char file[sizeof(r->name) + sizeof(r->ext) + 1];

	snprintf(file, sizeof(file), "%s.%s", r->name, r->ext);
	fputs("{\"job\": ", f);
	dcv_json_cstr(f, r->id);
	fputs(", \"name\": ", f);
	dcv_json_cstr(f, r->name);
	fputs(", \"file\": ", f);
	dcv_json_cstr(f, file);
	fputs(", \"state\": ", f);
	dcv_json_cstr(f, dcv_job_status_state(r));
	fputs(", \"step\": ", f);
	dcv_json_cstr(f, dcv_job_state_name(r->state));
	fputs(", \"error\": ", f);
	dcv_json_cstr(f, r->error[0] ? r->error : NULL);
	fprintf(f, ", \"cleanup\": %s, \"submitter\": ", r->cleanup ? "true" : "false");
	dcv_json_cstr(f, r->has_uid && r->submitter[0] ? r->submitter : NULL);
	if (r->has_uid)
		fprintf(f, ", \"uid\": %u", (unsigned)r->uid);
	else
		fputs(", \"uid\": null", f);
	fputs(", \"md5\": ", f);
	dcv_json_cstr(f, r->md5[0] ? r->md5 : NULL);
	fputs(", \"sha256\": ", f);
	dcv_json_cstr(f, r->sha256[0] ? r->sha256 : NULL);
	fputs(", \"zones\": [", f);
	for (size_t i = 0, shown = 0; i < r->n_rrs; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(r->rrs[j].zone, r->rrs[i].zone) == 0;
		if (seen)
			continue;
		fputs(shown++ ? ", " : "", f);
		dcv_json_cstr(f, r->rrs[i].zone);
	}
	fputs("], \"records\": [", f);
	for (size_t i = 0; i < r->n_rrs; i++) {
		fputs(i ? ", {\"owner\": " : "{\"owner\": ", f);
		dcv_json_cstr(f, r->rrs[i].owner);
		fprintf(f, ", \"ttl\": %u, \"target\": ", (unsigned)r->rrs[i].ttl);
		dcv_json_cstr(f, r->rrs[i].target);
		fputs(", \"zone\": ", f);
		dcv_json_cstr(f, r->rrs[i].zone);
		/* The zone's DNSSEC state as the probe found it; null before it looked. */
		fputs(", \"dnssec\": ", f);
		if (r->rrs[i].dnssec[0])
			dcv_json_cstr(f, r->rrs[i].dnssec);
		else
			fputs("null", f);
		fputs("}", f);
	}
	fputs("], \"names\": [", f);
	for (size_t i = 0; i < r->n_names; i++) {
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		dcv_json_cstr(f, r->names[i].name);
		fputs(", \"adn\": ", f);
		dcv_json_cstr(f, r->names[i].adn);
		fputs("}", f);
	}
	fputs("], \"times\": {", f);
	json_time(f, "received", r->received, true);
	json_time(f, "published", r->published, false);
	json_time(f, "visible", r->visible, false);
	json_time(f, "withdraw_due", r->withdraw_due, false);
	json_time(f, "withdrawn", r->withdrawn, false);
	json_time(f, "failed", r->failed, false);
	fputs("}}", f);
}

/*
 * The state of print_report as one JSON object: spool, source ("records",
 * or "status files" for a reader without access to the job database),
 * incoming, counts per step, the oldest job in flight, damaged records,
 * and every job.
 */
static void print_json(const struct dcv_config *cfg, const struct dcv_job_record *recs, size_t n,
                       const struct dcv_strv *damaged, bool from_files)
{
	size_t counts[DCV_JOB_STATE_COUNT] = {0};
	const struct dcv_job_record *oldest = oldest_in_flight(recs, n);
	FILE *f = stdout;

	for (size_t i = 0; i < n; i++)
		counts[recs[i].state]++;
	fputs("{\"spool\": ", f);
	dcv_json_cstr(f, cfg->spool);
	fprintf(f, ", \"source\": \"%s\", \"incoming\": %zu, \"counts\": {",
	        from_files ? "status files" : "records", count_incoming(cfg->spool));
	for (int s = 0; s < DCV_JOB_STATE_COUNT; s++)
		fprintf(f, "%s\"%s\": %zu", s ? ", " : "",
		        dcv_job_state_name((enum dcv_job_state)s), counts[s]);
	fputs("}, \"oldest_in_flight\": ", f);
	dcv_json_cstr(f, oldest != NULL ? oldest->id : NULL);
	fputs(", \"damaged\": [", f);
	for (size_t i = 0; i < damaged->n; i++) {
		fputs(i ? ", " : "", f);
		dcv_json_cstr(f, damaged->v[i]);
	}
	fputs("], \"jobs\": [", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		json_job(f, &recs[i]);
	}
	fputs("]}\n", f);
}

int dcv_cli_status_main(int argc, char **argv)
{
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0}, damaged = {0};
	struct dcv_job_record *recs = NULL;
	const char *config = NULL;
	bool json = false, from_files = false, bad = false;
	size_t n = 0;
	int status = 2;

	for (int i = 1; i < argc && !bad; i++) {
		if (strcmp(argv[i], "--json") == 0 && !json)
			json = true;
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc && config == NULL)
			config = argv[++i];
		else
			bad = true;
	}
	if (config == NULL || bad)
		return dcv_cli_usage_error("%s", "usage: dcv status -c CONFIG [--json]");
	if (dcv_config_load(config, &cfg, &errors) < 0) {
		for (size_t i = 0; i < errors.n; i++)
			fprintf(stderr, "dcv: %s\n", errors.v[i]);
		goto out;
	}
	status = 1;
	if (load_records(cfg->spool, &recs, &n, &damaged, &from_files) < 0)
		goto out;
	if (json)
		print_json(cfg, recs, n, &damaged, from_files);
	else
		print_report(cfg, recs, n, &damaged);
	status = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "dcv: writing the status: %s\n", strerror(errno));
		status = 1;
	}
out:
	for (size_t i = 0; i < n; i++)
		dcv_job_record_free(&recs[i]);
	free(recs);
	dcv_strv_free(&errors);
	dcv_strv_free(&damaged);
	dcv_config_free(cfg);
	return status;
}
