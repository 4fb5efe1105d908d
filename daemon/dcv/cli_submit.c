/*
 * cli_submit.c -- `dcv submit (-c CONFIG | --spool DIR) [--unique V]
 * [--target D] [--expect LINE]... [--wait] [--timeout S] FILE...`
 *
 * Each FILE is read and checked as `dcv records` checks it (the same parser,
 * the same options; --expect against the computed records, as dcvd would),
 * then dropped into SPOOL/incoming/ under a NAME of its own (submit.h): the
 * sidecar first when there is one, then the CSR, each a dot-file made
 * durable and renamed into place without replacing anything. One line per
 * CSR dropped, its NAME, goes to standard output at once.
 *
 * --wait: before anything is dropped, a results folder SPOOL/results/<secret>/
 * of its own is made (results.h; 2770: the setgid bit gives dcvd's files
 * in it the group too) and watched with inotify, and every
 * sidecar carries the token (the secret's hash). dcvd writes each job's status there when the
 * job is visible or has failed; each is printed (a YAML document, without
 * the token), in the order they end. The folder's times are renewed every
 * hour so that dcvd's sweep leaves it alone, and it is removed at the end,
 * also at a timeout or SIGINT/SIGTERM/SIGHUP.
 *
 * Exit status: 1 when a FILE was refused here or a job failed (or ended in
 * a state other than visible); otherwise 3 when a job had no result within
 * --timeout (or the wait was interrupted, or the results folder vanished);
 * otherwise 0. 2: usage or configuration error, or the spool cannot be
 * reached (nothing was dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "dcv/csr.h"
#include "dcv/dcv.h"
#include "dcv/names.h"
#include "results.h"
#include "sidecar.h"
#include "submit.h"

/* Attempts at a NAME that is free (64 random bits: a second one is already a wonder). */
#define SUBMIT_NAME_TRIES 8
/* The results folder's times are renewed this often while waiting (the sweep takes a day). */
#define SUBMIT_TOUCH_MS (3600 * 1000)
/*
 * How often the wait looks whether its folder is still linked: inotify says
 * IN_DELETE_SELF only once the last descriptor is closed, and dir_fd is ours.
 */
#define SUBMIT_GONE_CHECK_MS 1000

struct submit_args {
	const char *config;
	const char *spool;
	struct dcv_opts opts;
	struct dcv_opts_buf buf;
	struct dcv_strv expect;
	bool target_given; /* --target: the sidecar names it (dcvd's default is the config's) */
	bool wait;
	unsigned long timeout_s; /* 0: no limit */
	int first_file;
};

/* A CSR dropped, and what became of it. */
struct submit_job {
	const char *file;
	struct dcv_submit_name name;
	bool ended;
};

struct submit_run {
	struct submit_args a;
	char *spool; /* the spool's path (owned) */
	int incoming_fd;
	int results_fd; /* O_PATH: the group may not list results/ */
	int dir_fd;     /* SPOOL/results/<secret> */
	int inotify_fd;
	char secret[DCV_JOB_TOKEN_LEN + 1]; /* the results folder's name: never leaves this run */
	char token[DCV_JOB_TOKEN_LEN + 1];  /* its hash: in the sidecars, back in the results */
	char dir_shown[64];                 /* for messages: never the secret itself */
	struct submit_job *jobs;
	size_t n_jobs;
	bool any_failed;
	bool any_late;
};

static volatile sig_atomic_t submit_signal;

static void submit_on_signal(int sig)
{
	submit_signal = sig;
}

static int parse_submit(int argc, char **argv, struct submit_args *a)
{
	static const struct option longopts[] = {
	    {"spool", required_argument, NULL, 's'},  {"unique", required_argument, NULL, 'u'},
	    {"target", required_argument, NULL, 't'}, {"expect", required_argument, NULL, 'e'},
	    {"wait", no_argument, NULL, 'w'},         {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct dcv_why why = {""};
	char *end = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 's':
			a->spool = optarg;
			break;
		case 'u':
			a->opts.unique = optarg;
			break;
		case 't':
			a->opts.target = optarg;
			a->target_given = true;
			break;
		case 'e':
			if (dcv_strv_push(&a->expect, optarg) < 0)
				return dcv_cli_usage_error("%s", "out of memory");
			break;
		case 'w':
			a->wait = true;
			break;
		case 'T':
			errno = 0;
			a->timeout_s = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 ||
			    a->timeout_s > 31536000UL)
				return dcv_cli_usage_error(
				    "--timeout '%s': not a number of seconds "
				    "from 0 (no limit) to 31536000",
				    optarg);
			break;
		case 'h':
			dcv_cli_usage(stdout);
			exit(0);
		default:
			return dcv_cli_usage_error("%s", "invalid option");
		}
	}
	if ((a->config == NULL) == (a->spool == NULL))
		return dcv_cli_usage_error("%s", "submit needs one of -c CONFIG and --spool DIR");
	if (a->timeout_s > 0 && !a->wait)
		return dcv_cli_usage_error("%s", "--timeout needs --wait");
	if (dcv_opts_check(&a->opts, &a->buf, &why) < 0)
		return dcv_cli_usage_error("%s", why.text);
	if (optind >= argc)
		return dcv_cli_usage_error("%s", "no FILE given");
	a->first_file = optind;
	return 0;
}

/* The spool's path: --spool, or the configuration's spool: (which only root and dcvd may read). */
static int submit_spool_path(struct submit_run *r)
{
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};
	int status = 2;

	if (r->a.spool != NULL) {
		r->spool = strdup(r->a.spool);
	} else if (dcv_config_load(r->a.config, &cfg, &errors) < 0) {
		for (size_t i = 0; i < errors.n; i++)
			fprintf(stderr, "dcv: %s\n", errors.v[i]);
		goto out;
	} else {
		r->spool = strdup(cfg->spool);
	}
	if (r->spool == NULL) {
		fprintf(stderr, "dcv: out of memory\n");
		goto out;
	}
	status = 0;
out:
	dcv_strv_free(&errors);
	dcv_config_free(cfg);
	return status;
}

/* incoming/ and (for --wait) results/: a member of dcv-submit may pass, not list. */
static int submit_open_spool(struct submit_run *r)
{
	int spool_fd = open(r->spool, O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *what = r->spool;
	int status = 2;

	if (spool_fd < 0)
		goto fail;
	what = "incoming";
	r->incoming_fd = openat(spool_fd, "incoming", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->incoming_fd < 0)
		goto fail;
	what = DCV_RESULTS_DIR;
	if (r->a.wait && (r->results_fd = openat(spool_fd, DCV_RESULTS_DIR,
	                                         O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto fail;
	status = 0;
	goto out;
fail:
	fprintf(stderr, "dcv: %s%s%s: %s%s\n", r->spool, what == r->spool ? "" : "/",
	        what == r->spool ? "" : what, strerror(errno),
	        errno == EACCES ? " (submitters must be members of dcv-submit)" : "");
out:
	if (spool_fd >= 0)
		close(spool_fd);
	return status;
}

/* --wait: SPOOL/results/<secret>/, this run's own, watched before anything is dropped. */
static int submit_make_results(struct submit_run *r)
{
	struct dcv_why why = {""};
	char path[4200];

	snprintf(r->dir_shown, sizeof(r->dir_shown), "%s", "the results folder");
	if (dcv_results_token_new(r->secret, &why) < 0 ||
	    dcv_results_token_of(r->secret, r->token) < 0) {
		fprintf(stderr, "dcv: %s\n", why.text[0] ? why.text : "cannot make a token");
		return 2;
	}
	if (mkdirat(r->results_fd, r->secret, 0770) < 0 ||
	    (r->dir_fd = openat(r->results_fd, r->secret,
	                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fchmod(r->dir_fd, 02770) < 0) {
		fprintf(stderr, "dcv: %s/%s: cannot make a results folder: %s%s\n", r->spool,
		        DCV_RESULTS_DIR, strerror(errno),
		        errno == EACCES ? " (submitters must be members of dcv-submit)" : "");
		if (r->dir_fd >= 0 || errno != EEXIST)
			unlinkat(r->results_fd, r->secret, AT_REMOVEDIR);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", r->spool, DCV_RESULTS_DIR, r->secret);
	r->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (r->inotify_fd < 0 ||
	    inotify_add_watch(r->inotify_fd, path,
	                      IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF |
	                          IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
		fprintf(stderr, "dcv: cannot watch %s: %s\n", r->dir_shown, strerror(errno));
		return 2;
	}
	return 0;
}

/* Reads and checks one FILE; the request (to check --expect against) or NULL after saying why. */
static unsigned char *submit_read(struct submit_run *r, const char *file, const struct dcv_psl *psl,
                                  size_t *len)
{
	struct dcv_sidecar sc;
	struct dcv_request *req = NULL;
	struct dcv_csr *csr = NULL;
	struct dcv_why why = {""};
	unsigned char *buf = NULL, *scbuf = NULL;
	size_t sclen = 0;
	int rc = dcv_read_file(file, DCV_CSR_MAX_FILE, &buf, len, &why);

	memset(&sc, 0, sizeof(sc));
	if (rc == DCV_OK)
		rc = dcv_csr_parse(buf, *len, &csr, &why);
	if (rc == DCV_OK) {
		rc = dcv_request_new(csr, psl, &r->a.opts, &req, &why);
		csr = NULL;
	}
	/* --expect is checked as dcvd checks it: through the sidecar that will carry it. */
	if (rc == DCV_OK && r->a.expect.n > 0 &&
	    (rc = dcv_submit_sidecar(NULL, NULL, r->a.expect.v, r->a.expect.n, NULL, &scbuf,
	                             &sclen)) == DCV_OK &&
	    (rc = dcv_sidecar_parse("--expect", scbuf, sclen, &sc, &why)) == DCV_OK)
		rc = dcv_sidecar_check(&sc, req, &why);
	if (rc < 0) {
		dcv_why_default(&why, rc);
		fflush(stdout);
		fprintf(stderr, "dcv: %s: %s\n", file, why.text);
		free(buf);
		buf = NULL;
	} else {
		for (size_t i = 0; i < req->n_warnings; i++)
			fprintf(stderr, "dcv: %s: warning: %s\n", file, req->warnings[i]);
	}
	dcv_sidecar_free(&sc);
	free(scbuf);
	dcv_csr_free(csr);
	dcv_request_free(req);
	return buf;
}

/* Drops one CSR (and its sidecar) under a fresh NAME into job; false after saying why. */
static bool submit_one(struct submit_run *r, const char *file, const unsigned char *csr, size_t len,
                       const unsigned char *sidecar, size_t sclen, struct submit_job *job)
{
	struct dcv_why why = {""};
	char shown[4200];
	int rc = DCV_EINVAL;

	snprintf(shown, sizeof(shown), "%s/incoming", r->spool);
	job->file = file;
	/* DCV_EINVAL: the NAME is taken (by chance, or by someone who saw it): draw again. */
	for (int i = 0; i < SUBMIT_NAME_TRIES && rc == DCV_EINVAL; i++) {
		if ((rc = dcv_submit_name_new(file, &job->name, &why)) < 0)
			break;
		if (sidecar != NULL &&
		    (rc = dcv_submit_drop(r->incoming_fd, shown, job->name.sidecar, sidecar, sclen,
		                          &why)) < 0)
			continue;
		rc = dcv_submit_drop(r->incoming_fd, shown, job->name.file, csr, len, &why);
		/* Ours: the sticky folder lets its owner remove it. */
		if (rc < 0 && sidecar != NULL)
			unlinkat(r->incoming_fd, job->name.sidecar, 0);
	}
	if (rc == DCV_EINVAL)
		dcv_why_set(&why, "%s: no free NAME after %d tries", shown, SUBMIT_NAME_TRIES);
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "dcv: %s: not submitted: %s\n", file, why.text);
		return false;
	}
	printf("%s\n", job->name.name);
	fflush(stdout);
	return true;
}

/* Reads NAME.status if dcvd has put it there; true when the job has ended (and is reported). */
static bool submit_collect(struct submit_run *r, struct submit_job *job)
{
	char status_name[300], state[32], error[600];
	unsigned char *text = NULL;
	size_t len = 0, shown_len = 0;
	struct stat st;
	int fd = -1;

	snprintf(status_name, sizeof(status_name), "%s.status", job->name.name);
	fd = openat(r->dir_fd, status_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    dcv_read_fd(fd, DCV_JOB_FILE_MAX, &text, &len, NULL) < 0) {
		close(fd);
		return false;
	}
	close(fd);
	if (!dcv_submit_result_parse((const char *)text, len, r->token, &shown_len, state,
	                             sizeof(state), error, sizeof(error))) {
		/* Not written for this run: only someone who knows the token could have. */
		fprintf(stderr, "dcv: %s: a status for %s without this run's token; ignored\n",
		        r->dir_shown, job->name.name);
		unlinkat(r->dir_fd, status_name, 0);
		free(text);
		return false;
	}
	job->ended = true;
	fwrite(text, 1, shown_len, stdout);
	fflush(stdout);
	if (strcmp(state, "visible") != 0) {
		r->any_failed = true;
		fprintf(stderr, "dcv: %s: job %s %s%s%s\n", job->file, job->name.name,
		        state[0] ? state : "ended without a state", error[0] ? ": " : "", error);
	}
	unlinkat(r->dir_fd, status_name, 0);
	free(text);
	return true;
}

static size_t submit_collect_all(struct submit_run *r)
{
	size_t pending = 0;

	for (size_t i = 0; i < r->n_jobs; i++)
		if (!r->jobs[i].ended && !submit_collect(r, &r->jobs[i]))
			pending++;
	return pending;
}

static uint64_t submit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Waits on inotify until every job has its status, the timeout passes, a
 * signal comes or the folder goes; the jobs left get their line.
 */
static void submit_wait(struct submit_run *r)
{
	uint64_t start = submit_now_ms(), deadline = start + r->a.timeout_s * 1000, now = start;
	uint64_t touch_at = start + SUBMIT_TOUCH_MS, wait_ms = 0;
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pfd = {r->inotify_fd, POLLIN, 0};
	struct stat st;
	const char *why = NULL;
	bool gone = false;
	ssize_t n = 0;

	while (submit_collect_all(r) > 0) {
		now = submit_now_ms();
		if (submit_signal != 0) {
			why = "interrupted";
			break;
		}
		gone |= fstat(r->dir_fd, &st) == 0 && st.st_nlink == 0;
		if (gone) {
			why = "the results folder was removed";
			break;
		}
		if (r->a.timeout_s > 0 && now >= deadline) {
			why = "timed out";
			break;
		}
		if (now >= touch_at) {
			/* dcvd sweeps folders unchanged for a day: this one is still waited on. */
			futimens(r->dir_fd, NULL);
			touch_at = now + SUBMIT_TOUCH_MS;
		}
		wait_ms =
		    touch_at - now < SUBMIT_GONE_CHECK_MS ? touch_at - now : SUBMIT_GONE_CHECK_MS;
		if (r->a.timeout_s > 0 && deadline - now < wait_ms)
			wait_ms = deadline - now;
		if (poll(&pfd, 1, (int)wait_ms) <= 0)
			continue;
		/* Which file arrived matters little: every pending job is looked at again. */
		while ((n = read(r->inotify_fd, events, sizeof(events))) > 0)
			for (char *p = events; p < events + n;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;
				gone |=
				    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0;
				p += sizeof(*ev) + ev->len;
			}
	}
	for (size_t i = 0; why != NULL && i < r->n_jobs; i++) {
		if (r->jobs[i].ended)
			continue;
		r->any_late = true;
		fprintf(stderr,
		        "dcv: %s: job %s: no result (%s after %llu s); it stays in the spool and "
		        "dcvd still works on it\n",
		        r->jobs[i].file, r->jobs[i].name.name, why,
		        (unsigned long long)((now - start) / 1000));
	}
}

/* Removes the results folder and what is left in it (ours: 0770, no sticky bit). */
static void submit_remove_results(struct submit_run *r)
{
	char name[300];

	if (r->dir_fd < 0)
		return;
	for (size_t i = 0; i < r->n_jobs; i++) {
		snprintf(name, sizeof(name), "%s.status", r->jobs[i].name.name);
		unlinkat(r->dir_fd, name, 0);
		snprintf(name, sizeof(name), ".%s.status.tmp", r->jobs[i].name.name);
		unlinkat(r->dir_fd, name, 0);
	}
	if (unlinkat(r->results_fd, r->secret, AT_REMOVEDIR) < 0 && errno != ENOENT)
		fprintf(stderr, "dcv: cannot remove %s: %s (dcvd removes it after a day)\n",
		        r->dir_shown, strerror(errno));
}

static int submit_run_files(struct submit_run *r, int argc, char **argv)
{
	struct dcv_psl *psl = NULL;
	struct dcv_why why = {""};
	unsigned char *csr = NULL, *sidecar = NULL;
	size_t len = 0, sclen = 0;
	int status = 2;

	if (dcv_psl_load(&psl, &why) < 0) {
		fprintf(stderr, "dcv: %s\n", why.text);
		goto out;
	}
	if (dcv_submit_sidecar(r->a.opts.unique, r->a.target_given ? r->a.opts.target : NULL,
	                       r->a.expect.v, r->a.expect.n, r->a.wait ? r->token : NULL, &sidecar,
	                       &sclen) < 0 ||
	    (r->jobs = calloc((size_t)(argc - r->a.first_file), sizeof(*r->jobs))) == NULL) {
		fprintf(stderr, "dcv: out of memory\n");
		goto out;
	}
	for (int i = r->a.first_file; i < argc; i++) {
		/* A signal stops the drops too: what is not in the spool yet stays out. */
		if (submit_signal != 0) {
			fprintf(stderr, "dcv: %s: not submitted (interrupted)\n", argv[i]);
			r->any_late = true;
			continue;
		}
		if ((csr = submit_read(r, argv[i], psl, &len)) == NULL) {
			r->any_failed = true;
			continue;
		}
		if (submit_one(r, argv[i], csr, len, sidecar, sclen, &r->jobs[r->n_jobs]))
			r->n_jobs++;
		else
			r->any_failed = true;
		free(csr);
	}
	if (r->a.wait && r->n_jobs > 0)
		submit_wait(r);
	status = r->any_failed ? 1 : r->any_late ? 3 : 0;
out:
	free(sidecar);
	dcv_psl_free(psl);
	return status;
}

int dcv_cli_submit_main(int argc, char **argv)
{
	struct submit_run r;
	struct sigaction sa;
	int status = 0;

	memset(&r, 0, sizeof(r));
	r.incoming_fd = r.results_fd = r.dir_fd = r.inotify_fd = -1;
	if ((status = parse_submit(argc, argv, &r.a)) != 0 ||
	    (status = submit_spool_path(&r)) != 0 || (status = submit_open_spool(&r)) != 0)
		goto out;
	if (r.a.wait) {
		/* Interrupted waits still remove their folder. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = submit_on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		if ((status = submit_make_results(&r)) != 0)
			goto out;
	}
	status = submit_run_files(&r, argc, argv);
out:
	submit_remove_results(&r);
	/* ferror too: submit_one flushes each NAME, and a failure there leaves nothing to flush. */
	if ((fflush(stdout) != 0 || ferror(stdout)) && status == 0) {
		fprintf(stderr, "dcv: cannot write to standard output\n");
		status = 1;
	}
	if (r.inotify_fd >= 0)
		close(r.inotify_fd);
	if (r.dir_fd >= 0)
		close(r.dir_fd);
	if (r.results_fd >= 0)
		close(r.results_fd);
	if (r.incoming_fd >= 0)
		close(r.incoming_fd);
	free(r.jobs);
	free(r.spool);
	dcv_strv_free(&r.a.expect);
	return status;
}
