/*
 * cli_net.c -- `dcv publish | check | withdraw -c CONFIG FILE...`: one job's
 * steps, synchronously, for many CSRs at once on one loop.
 *
 *   publish   one UPDATE batch per zone (all CSRs together), to every
 *             primary, confirmed at each primary;
 *   check     rounds of the CA-style probe until every authoritative address
 *             and then every resolver serves every record, or the timeout;
 *   withdraw  delete the exact records, then wait until no authoritative
 *             address serves them.
 *
 * The run is a state machine: UPDATING -> POLLING -> CLOSING (publish ends
 * after UPDATING). Exit: 0 all done, 1 any CSR failed (one line per problem
 * on stderr naming file, name and server), 2 usage or configuration error.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "config.h"
#include "dcv/names.h"
#include "plan.h"
#include "util.h"

#define MAX_LINES_PER_FILE 20
#define POLL_FIRST_MS 200
#define POLL_CAP_MS 2000
#define PROBE_QUERY_TIMEOUT_MS 3000 /* the prober's default */

enum cli_op {
	OP_PUBLISH,
	OP_CHECK,
	OP_WITHDRAW,
};

enum cli_state {
	CLI_UPDATING,
	CLI_POLLING,
	CLI_CLOSING,
};

struct cli;

struct cli_job {
	struct cli *cli;
	const char *file;
	struct dcv_request *req;
	struct dcv_plan plan;
	bool failed;
	bool done;
	bool in_round;
	struct dcv_strv last; /* what the last probe round found wrong */
	int load_rc;          /* loading the CSR, done by a loader thread */
	struct dcv_why load_why;
	struct dcv_probe_memory memory; /* what earlier rounds learned */
};

struct zone_batch {
	struct cli *cli;
	const struct dcv_zone *zone;
	struct dcv_record *recs;
	size_t *rec_jobs; /* the job of each record */
	size_t n_recs;
	size_t *jobs; /* jobs with records in this zone */
	size_t n_jobs;
};

struct cli {
	uv_loop_t loop;
	struct dcv_dnsio *io;
	struct dcv_prober *prober;
	const struct dcv_config *cfg;
	enum cli_op op;
	enum cli_state state;
	struct cli_job *jobs;
	size_t n_jobs;
	struct zone_batch *batches;
	size_t n_batches;
	size_t updates_pending;
	size_t rounds_pending;
	uv_timer_t poll;
	uv_timer_t deadline;
	uint64_t timeout_ms;
	unsigned poll_count;
	/* check: each zone's serial at its primary when the check began, for the reasons */
	struct dcv_probe_held *held; /* n_held of cfg->n_zones */
	size_t n_held;
	struct cli_held_req *held_reqs;
};

/* One zone's serial asked of its primary. */
struct cli_held_req {
	struct cli *cli;
	size_t zone;
};

static void cli_job_fail(struct cli_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cli_job_fail(struct cli_job *job, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dcv: %s: ", job->file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	job->failed = true;
}

/* --- shutting down ------------------------------------------------------- */

static void on_io_closed(void *arg)
{
	struct cli *cli = arg;

	cli->io = NULL;
	dcv_prober_free(cli->prober);
	cli->prober = NULL;
	uv_close((uv_handle_t *)&cli->poll, NULL);
	uv_close((uv_handle_t *)&cli->deadline, NULL);
}

static void shut_down(struct cli *cli)
{
	if (cli->state == CLI_CLOSING)
		return;
	cli->state = CLI_CLOSING;
	uv_timer_stop(&cli->poll);
	uv_timer_stop(&cli->deadline);
	dcv_dnsio_close(cli->io, on_io_closed, cli);
}

static bool all_settled(const struct cli *cli)
{
	for (size_t i = 0; i < cli->n_jobs; i++)
		if (!cli->jobs[i].failed && !cli->jobs[i].done)
			return false;
	return true;
}

/* --- probing ------------------------------------------------------------- */

static void start_rounds(struct cli *cli);

static void on_poll(uv_timer_t *t)
{
	start_rounds(t->data);
}

/*
 * The authoritative addresses asked about one record owner: the servers of
 * its own zone, not of every zone the request touched.
 */
static size_t owner_addrs(const struct dcv_probe_report *rep, const char *owner)
{
	size_t n = 0;

	for (size_t i = 0; i < rep->n_obs; i++)
		n += !rep->obs[i].resolver && strcasecmp(rep->obs[i].qname, owner) == 0;
	return n;
}

static void report_success(const struct cli *cli, const struct cli_job *job,
                           const struct dcv_probe_report *rep)
{
	if (cli->op == OP_WITHDRAW) {
		for (size_t r = 0; r < job->plan.n_records; r++) {
			size_t n = owner_addrs(rep, job->plan.records[r].owner);
			printf("%s: withdrawn %s CNAME %s (zone %s), gone from %zu authoritative "
			       "address%s\n",
			       job->file, job->plan.records[r].owner, job->plan.records[r].target,
			       job->plan.zones[r]->domain, n, n == 1 ? "" : "es");
		}
		return;
	}
	printf("%s: visible: %zu name%s served by %zu authoritative address%s and %zu "
	       "resolver%s\n",
	       job->file, job->req->n_names, job->req->n_names == 1 ? "" : "s", rep->n_auth_addrs,
	       rep->n_auth_addrs == 1 ? "" : "es", cli->cfg->n_resolvers,
	       cli->cfg->n_resolvers == 1 ? "" : "s");
}

/* Keeps the last round's disagreements: they are the message if time runs out. */
static void cli_remember_round(struct cli_job *job, const struct dcv_probe_report *rep)
{
	dcv_probe_disagreements(rep, 0, &job->last);
	/* Without resolvers in the configuration there is nobody to wait for. */
	if (rep->status == DCV_OK && !rep->auth_ok && !job->plan.spec.expect_absent &&
	    job->last.n > 0 && job->cli->cfg->n_resolvers > 0)
		dcv_strv_push(&job->last, "resolvers not asked yet: not every authoritative "
		                          "address serves the record");
}

static void cli_on_round(void *arg, const struct dcv_probe_report *rep)
{
	struct cli_job *job = arg;
	struct cli *cli = job->cli;

	job->in_round = false;
	cli->rounds_pending--;
	if (cli->state != CLI_POLLING)
		goto out;
	if (rep->status == DCV_OK && rep->failed && !job->plan.spec.expect_absent) {
		/* DNSSEC: the CA's lookup fails, and waiting does not mend it. */
		cli_job_fail(job, "%s", rep->why);
	} else if (rep->status == DCV_OK && rep->done) {
		job->done = true;
		report_success(cli, job, rep);
	} else {
		cli_remember_round(job, rep);
	}
	if (all_settled(cli)) {
		shut_down(cli);
		goto out;
	}
	if (cli->rounds_pending == 0)
		uv_timer_start(&cli->poll, on_poll,
		               dcv_backoff_ms(cli->poll_count++, POLL_FIRST_MS, POLL_CAP_MS), 0);
out:
	return;
}

static void start_rounds(struct cli *cli)
{
	for (size_t i = 0; i < cli->n_jobs; i++) {
		struct cli_job *job = &cli->jobs[i];
		if (job->failed || job->done || job->in_round)
			continue;
		job->plan.spec.held = cli->held;
		job->plan.spec.n_held = cli->n_held;
		if (dcv_probe_round(cli->prober, &job->plan.spec, cli_on_round, job) < 0) {
			cli_job_fail(job, "out of memory");
			continue;
		}
		job->in_round = true;
		cli->rounds_pending++;
	}
	if (cli->rounds_pending == 0 && all_settled(cli))
		shut_down(cli);
}

static void cli_on_held(void *arg, int status, uint32_t serial)
{
	struct cli_held_req *req = arg;
	struct cli *cli = req->cli;

	if (status == DCV_OK && cli->held != NULL)
		cli->held[cli->n_held++] =
		    (struct dcv_probe_held){cli->cfg->zones[req->zone].domain, serial};
}

/*
 * A check asks each zone's primary for its serial first: a server that
 * lags can then be told apart as one that has not had the transfer yet
 * (older) from one whose copy lacks the record (not older). Without the
 * serial the reasons show the servers' serials alone.
 */
static void ask_held(struct cli *cli)
{
	const struct dcv_config *cfg = cli->cfg;

	cli->held = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*cli->held));
	cli->held_reqs = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*cli->held_reqs));
	if (cli->held == NULL || cli->held_reqs == NULL)
		return;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		bool used = false;
		for (size_t i = 0; i < cli->n_jobs && !used; i++)
			for (size_t k = 0; k < cli->jobs[i].plan.n_records && !used; k++)
				used = cli->jobs[i].plan.zones[k] == &cfg->zones[z];
		cli->held_reqs[z] = (struct cli_held_req){cli, z};
		if (used)
			(void)dcv_prober_primary_serial(cli->prober, &cfg->zones[z], 0, cli_on_held,
			                                &cli->held_reqs[z]);
	}
}

static void start_polling(struct cli *cli)
{
	cli->state = CLI_POLLING;
	for (size_t i = 0; i < cli->n_jobs; i++) {
		cli->jobs[i].plan.spec.expect_absent = cli->op == OP_WITHDRAW;
		cli->jobs[i].plan.spec.memory = &cli->jobs[i].memory;
	}
	start_rounds(cli);
}

static void on_deadline(uv_timer_t *t)
{
	struct cli *cli = t->data;

	for (size_t i = 0; i < cli->n_jobs; i++) {
		struct cli_job *job = &cli->jobs[i];
		if (job->failed || job->done)
			continue;
		if (job->last.n == 0)
			cli_job_fail(job, "not done within the timeout of %g s (%s)",
			             (double)cli->timeout_ms / 1000.0,
			             cli->state == CLI_UPDATING ? "updating" : "probing");
		for (size_t l = 0; l < job->last.n && l < MAX_LINES_PER_FILE; l++)
			cli_job_fail(job, "%s", job->last.v[l]);
		if (job->last.n > MAX_LINES_PER_FILE)
			cli_job_fail(job, "... and %zu more", job->last.n - MAX_LINES_PER_FILE);
		if (job->last.n > 0)
			cli_job_fail(job, "still not %s after %g s",
			             cli->op == OP_WITHDRAW ? "gone" : "visible everywhere",
			             (double)cli->timeout_ms / 1000.0);
	}
	shut_down(cli);
}

/* --- updating ------------------------------------------------------------ */

/* Every update has reported: publish is over, check and withdraw go on probing. */
static void updates_over(struct cli *cli)
{
	if (cli->op == OP_PUBLISH) {
		for (size_t i = 0; i < cli->n_jobs; i++)
			cli->jobs[i].done = !cli->jobs[i].failed;
		shut_down(cli);
		return;
	}
	start_polling(cli);
}

/* Whether every primary of the zone confirmed record i of the batch. */
static bool confirmed_everywhere(const struct dcv_update_outcome *outcomes, size_t n_outcomes,
                                 size_t i)
{
	for (size_t o = 0; o < n_outcomes; o++)
		if (outcomes[o].confirmed == NULL || !outcomes[o].confirmed[i])
			return false;
	return n_outcomes > 0;
}

static void cli_on_update(void *arg, int status, const struct dcv_update_outcome *outcomes,
                          size_t n_outcomes)
{
	struct zone_batch *b = arg;
	struct cli *cli = b->cli;

	/*
	 * Every record in place is said, zone by zone, also for a request that
	 * fails in another zone: the operator must know what to withdraw.
	 */
	for (size_t i = 0; i < b->n_recs && cli->op == OP_PUBLISH; i++)
		if (confirmed_everywhere(outcomes, n_outcomes, i))
			printf("%s: published %s %u IN CNAME %s (zone %s)\n",
			       cli->jobs[b->rec_jobs[i]].file, b->recs[i].owner, b->recs[i].ttl,
			       b->recs[i].target, b->zone->domain);
	for (size_t j = 0; j < b->n_jobs; j++) {
		struct cli_job *job = &cli->jobs[b->jobs[j]];
		for (size_t o = 0; o < n_outcomes; o++)
			if (outcomes[o].status != DCV_OK && !job->failed)
				cli_job_fail(job, "%s", outcomes[o].why);
			else if (outcomes[o].status != DCV_OK)
				fprintf(stderr, "dcv: %s: %s\n", job->file, outcomes[o].why);
	}
	/* A record that conflicts (another CNAME at its owner) fails only its own request. */
	for (size_t i = 0; i < b->n_recs; i++)
		for (size_t o = 0; o < n_outcomes; o++)
			if (outcomes[o].rec_status != NULL && outcomes[o].rec_status[i] != DCV_OK)
				cli_job_fail(&cli->jobs[b->rec_jobs[i]], "%s",
				             outcomes[o].rec_why[i] != NULL
				                 ? outcomes[o].rec_why[i]
				                 : dcv_strerror(outcomes[o].rec_status[i]));
	(void)status;
	if (--cli->updates_pending > 0 || cli->state != CLI_UPDATING)
		return;
	updates_over(cli);
}

/* Groups every record of every job by zone: one update per zone. */
static int make_batches(struct cli *cli)
{
	const struct dcv_config *cfg = cli->cfg;

	cli->batches = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*cli->batches));
	if (cli->batches == NULL)
		return DCV_ENOMEM;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		struct zone_batch *b = &cli->batches[cli->n_batches];
		b->cli = cli;
		b->zone = &cfg->zones[z];
		for (size_t i = 0; i < cli->n_jobs; i++) {
			const struct cli_job *job = &cli->jobs[i];
			bool involved = false;
			if (job->failed)
				continue;
			for (size_t r = 0; r < job->plan.n_records; r++) {
				struct dcv_record *grown = NULL;
				size_t *grown_jobs = NULL;
				if (job->plan.zones[r] != b->zone)
					continue;
				grown = realloc(b->recs, (b->n_recs + 1) * sizeof(*grown));
				if (grown == NULL)
					return DCV_ENOMEM;
				b->recs = grown;
				grown_jobs =
				    realloc(b->rec_jobs, (b->n_recs + 1) * sizeof(*grown_jobs));
				if (grown_jobs == NULL)
					return DCV_ENOMEM;
				b->rec_jobs = grown_jobs;
				b->rec_jobs[b->n_recs] = i;
				b->recs[b->n_recs++] = job->plan.records[r];
				involved = true;
			}
			if (involved) {
				size_t *grown = realloc(b->jobs, (b->n_jobs + 1) * sizeof(*grown));
				if (grown == NULL)
					return DCV_ENOMEM;
				b->jobs = grown;
				b->jobs[b->n_jobs++] = i;
			}
		}
		if (b->n_recs > 0)
			cli->n_batches++;
	}
	return DCV_OK;
}

/*
 * The time the updates and the queries of a probe may take: a little less
 * than the command's timeout, so that they end first and their own detailed
 * reasons (which server, what it said) are what a timeout reports.
 */
static uint64_t inner_timeout_ms(const struct cli *cli)
{
	uint64_t margin = cli->timeout_ms / 10 < 500 ? cli->timeout_ms / 10 : 500;

	return cli->timeout_ms - margin;
}

static int start_updates(struct cli *cli)
{
	struct dcv_update_opts opts = {cli->cfg->max_message_size, inner_timeout_ms(cli)};
	int rc = make_batches(cli);

	cli->state = CLI_UPDATING;
	for (size_t i = 0; i < cli->n_batches && rc == DCV_OK; i++) {
		struct zone_batch *b = &cli->batches[i];
		int started = dcv_update_start(
		    cli->io, b->zone, cli->op == OP_WITHDRAW ? DCV_UPDATE_DELETE : DCV_UPDATE_ADD,
		    b->recs, b->n_recs, &opts, cli_on_update, b, NULL);
		if (started == DCV_OK) {
			cli->updates_pending++;
			continue;
		}
		if (started != DCV_EINVAL) {
			rc = started;
			break;
		}
		/* The only other refusal: a record that fits in no message. */
		for (size_t j = 0; j < b->n_jobs; j++)
			cli_job_fail(&cli->jobs[b->jobs[j]],
			             "zone %s: a record does not fit in an UPDATE message of "
			             "max_message_size (%llu bytes, TSIG included)",
			             b->zone->domain,
			             (unsigned long long)cli->cfg->max_message_size);
	}
	if (rc == DCV_OK && cli->updates_pending == 0)
		updates_over(cli);
	return rc;
}

/* --- loading the CSRs ---------------------------------------------------- */

/*
 * Reading, verifying and hashing CSRs is the costliest step for a big batch
 * (~70 us of CPU per request), so the files are loaded by one thread per
 * core before the loop starts; each thread fills only its own jobs' slots
 * and the Public Suffix List is read-only. Messages are printed afterwards,
 * in the order of the command line.
 */
struct loader {
	struct cli *cli;
	char **files;
	size_t n, first, step;
	const struct dcv_psl *psl;
	const struct dcv_opts *opts;
};

static void *load_some(void *arg)
{
	struct loader *l = arg;

	for (size_t i = l->first; i < l->n; i += l->step) {
		struct cli_job *job = &l->cli->jobs[i];
		dcv_why_clear(&job->load_why);
		job->load_rc =
		    dcv_request_load(l->files[i], l->psl, l->opts, &job->req, &job->load_why);
	}
	return NULL;
}

static void load_jobs(struct cli *cli, char **files, size_t n, const struct dcv_opts *opts)
{
	struct dcv_psl *psl = NULL;
	struct dcv_why why = {""};
	pthread_t threads[8];
	struct loader loaders[8];
	size_t k = uv_available_parallelism(), started = 0;

	if (dcv_psl_load(&psl, &why) < 0) {
		for (size_t i = 0; i < n; i++)
			cli_job_fail(&cli->jobs[i], "%s", why.text);
		return;
	}
	k = k < 1 ? 1 : k > 8 ? 8 : k;
	if (k > n)
		k = n;
	for (size_t t = 0; t < k; t++) {
		loaders[t] = (struct loader){cli, files, n, t, k, psl, opts};
		/* A thread that cannot start leaves its share to this one. */
		if (t > 0 && pthread_create(&threads[t], NULL, load_some, &loaders[t]) == 0)
			started |= (size_t)1 << t;
	}
	for (size_t t = 0; t < k; t++)
		if (t == 0 || !(started & ((size_t)1 << t)))
			load_some(&loaders[t]);
	for (size_t t = 1; t < k; t++)
		if (started & ((size_t)1 << t))
			pthread_join(threads[t], NULL);
	for (size_t i = 0; i < n; i++) {
		struct cli_job *job = &cli->jobs[i];
		if (job->load_rc < 0) {
			cli_job_fail(job, "%s", job->load_why.text);
			continue;
		}
		dcv_why_clear(&why);
		if (dcv_plan_make(cli->cfg, job->req, &job->plan, &why) < 0) {
			cli_job_fail(job, "%s", why.text);
			continue;
		}
		for (size_t w = 0; w < job->req->n_warnings; w++)
			fprintf(stderr, "dcv: %s: warning: %s\n", job->file, job->req->warnings[w]);
	}
	dcv_psl_free(psl);
}

static int run(struct cli *cli, char **files, size_t n, const struct dcv_opts *opts)
{
	struct dcv_prober_opts popts = {0};
	int status = 1;

	cli->jobs = calloc(n, sizeof(*cli->jobs));
	if (cli->jobs == NULL || uv_loop_init(&cli->loop) != 0) {
		fprintf(stderr, "dcv: out of memory\n");
		free(cli->jobs);
		return 1;
	}
	cli->n_jobs = n;
	for (size_t i = 0; i < n; i++) {
		cli->jobs[i].cli = cli;
		cli->jobs[i].file = files[i];
	}
	load_jobs(cli, files, n, opts);
	cli->io = dcv_dnsio_new(&cli->loop, NULL);
	/*
	 * A query to a silent server must give up before the command does:
	 * otherwise a short --timeout ends the first round unfinished, and the
	 * message cannot say which server never answered.
	 */
	if (inner_timeout_ms(cli) < PROBE_QUERY_TIMEOUT_MS)
		popts.query_timeout_ms = inner_timeout_ms(cli);
	uv_update_time(&cli->loop); /* loading took a while; both clocks start now */
	popts.give_up_at = uv_now(&cli->loop) + inner_timeout_ms(cli);
	cli->prober = cli->io ? dcv_prober_new(cli->io, cli->cfg, &popts) : NULL;
	uv_timer_init(&cli->loop, &cli->poll);
	uv_timer_init(&cli->loop, &cli->deadline);
	cli->poll.data = cli->deadline.data = cli;
	if (cli->io == NULL || cli->prober == NULL) {
		fprintf(stderr, "dcv: out of memory\n");
		goto out;
	}
	uv_timer_start(&cli->deadline, on_deadline, cli->timeout_ms, 0);
	if (cli->op == OP_CHECK) {
		ask_held(cli);
		start_polling(cli);
	} else if (start_updates(cli) < 0)
		fprintf(stderr, "dcv: cannot start the updates: out of memory\n");
	if (all_settled(cli))
		shut_down(cli);
	uv_run(&cli->loop, UV_RUN_DEFAULT);
	status = 0;
	for (size_t i = 0; i < n; i++)
		if (!cli->jobs[i].done)
			status = 1;
out:
	if (cli->state != CLI_CLOSING) {
		/* Setup failed: close what exists and let the loop finish closing it. */
		if (cli->io != NULL)
			shut_down(cli);
		else {
			dcv_prober_free(cli->prober);
			uv_close((uv_handle_t *)&cli->poll, NULL);
			uv_close((uv_handle_t *)&cli->deadline, NULL);
		}
		uv_run(&cli->loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&cli->loop);
	for (size_t i = 0; i < n; i++) {
		dcv_plan_free(&cli->jobs[i].plan);
		dcv_request_free(cli->jobs[i].req);
		dcv_strv_free(&cli->jobs[i].last);
		dcv_probe_memory_free(&cli->jobs[i].memory);
	}
	for (size_t i = 0; i < cli->n_batches; i++) {
		free(cli->batches[i].recs);
		free(cli->batches[i].rec_jobs);
		free(cli->batches[i].jobs);
	}
	free(cli->batches);
	free(cli->jobs);
	free(cli->held);
	free(cli->held_reqs);
	return status;
}

/* --- the command line ---------------------------------------------------- */

int dcv_cli_net_main(const char *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 'T'},
	    {"unique", required_argument, NULL, 'u'}, {"target", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct cli cli;
	struct dcv_opts opts = {0};
	struct dcv_opts_buf buf;
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};
	const char *config = NULL;
	struct dcv_why why = {""};
	double timeout = 30;
	char *end = NULL;
	int c, status = 2;

	memset(&cli, 0, sizeof(cli));
	if (strcmp(cmd, "publish") == 0)
		cli.op = OP_PUBLISH;
	else if (strcmp(cmd, "check") == 0)
		cli.op = OP_CHECK;
	else if (strcmp(cmd, "withdraw") == 0)
		cli.op = OP_WITHDRAW;
	else
		return dcv_cli_usage_error("unknown command '%s'", cmd);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'T':
			timeout = strtod(optarg, &end);
			if (*end != '\0' || !(timeout > 0 && timeout <= 86400))
				return dcv_cli_usage_error(
				    "--timeout '%s': seconds, more than 0 and at most 86400",
				    optarg);
			break;
		case 'u':
			opts.unique = optarg;
			break;
		case 't':
			opts.target = optarg;
			break;
		case 'h':
			dcv_cli_usage(stdout);
			return 0;
		default:
			return dcv_cli_usage_error("%s", "invalid option");
		}
	}
	if (config == NULL)
		return dcv_cli_usage_error("%s needs -c CONFIG", cmd);
	if (optind >= argc)
		return dcv_cli_usage_error("%s", "no FILE given");
	if (dcv_config_load(config, &cfg, &errors) < 0) {
		for (size_t i = 0; i < errors.n; i++)
			fprintf(stderr, "dcv: %s\n", errors.v[i]);
		goto out;
	}
	for (size_t i = 0; i < cfg->warnings.n; i++)
		fprintf(stderr, "dcv: warning: %s\n", cfg->warnings.v[i]);
	if (opts.target == NULL)
		opts.target = cfg->target;
	if (dcv_opts_check(&opts, &buf, &why) < 0) {
		status = dcv_cli_usage_error("%s", why.text);
		goto out;
	}
	cli.cfg = cfg;
	cli.timeout_ms = (uint64_t)(timeout * 1000);
	status = run(&cli, argv + optind, (size_t)(argc - optind), &opts);
out:
	fflush(stdout);
	dcv_strv_free(&errors);
	dcv_config_free(cfg);
	return status;
}
