/*
 * main_dcvd.c -- the daemon: `dcvd -c CONFIG [--check] [-v]`.
 *
 * Runs in the foreground on one libuv loop (systemd supervises it; it never
 * forks itself away). SIGTERM/SIGINT: persist and stop within 2 s. SIGHUP:
 * reload the configuration -- a broken one is refused with its errors logged
 * and the running one kept; jobs go on either way.
 * Exit: 0 after a stop, 2 for usage or configuration errors, 1 otherwise.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "notify.h"

#define STATUS_EVERY_MS 10000

struct daemon {
	uv_loop_t loop;
	const char *config_path;
	struct dcv_engine *eng;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t status, watchdog;
	int exit_code;
	/* A reload reads files and asks NSS for users and groups: on the thread pool. */
	uv_work_t reload_work;
	bool reloading, reload_again;
	struct dcv_config *reload_cfg;
	int reload_rc;
};

static const char usage_text[] =
    "usage: dcvd -c CONFIG [--check] [-v]\n"
    "       dcvd --help | --version\n"
    "\n"
    "Runs in the foreground: takes CSRs dropped in SPOOL/incoming/, publishes their DCV\n"
    "records with TSIG-signed RFC 2136 updates, waits until every authoritative server\n"
    "and resolver serves them, reports, and withdraws them after withdraw_after.\n"
    "\n"
    "  -c, --config FILE   the configuration (see dcvd.yaml(5))\n"
    "  --check             check the configuration and its key files, then exit\n"
    "                      (0 and \"configuration OK\", or 2 and FILE:LINE:COL messages)\n"
    "  -v, --verbose       debug log lines too\n"
    "Signals: SIGTERM stops (jobs resume at the next start), SIGHUP reloads.\n"
    "See dcvd(8) and dcvd.yaml(5).\n";

static int load(const char *path, struct dcv_config **cfg, bool at_start)
{
	struct dcv_strv errors = {0};
	int rc = dcv_config_load(path, cfg, &errors);

	for (size_t i = 0; i < errors.n; i++) {
		if (at_start)
			fprintf(stderr, "dcvd: %s\n", errors.v[i]);
		else
			log_err("reload: %s", errors.v[i]);
	}
	dcv_strv_free(&errors);
	if (rc == DCV_OK)
		for (size_t i = 0; i < (*cfg)->warnings.n; i++)
			log_warn("%s", (*cfg)->warnings.v[i]);
	return rc;
}

static void send_status(struct daemon *d)
{
	char line[256];

	dcv_engine_status_line(d->eng, line, sizeof(line));
	dcv_notify_status("%s", line);
}

static void on_status(uv_timer_t *t)
{
	send_status(t->data);
}

static void on_watchdog(uv_timer_t *t)
{
	dcv_notify_watchdog();
}

static void on_stopped(void *arg)
{
	struct daemon *d = arg;

	d->eng = NULL;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->status, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	log_info("stopped");
	/* Past the engine's time limit the loop may still hold its handles: do not wait. */
	uv_stop(&d->loop);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (d->eng == NULL)
		return;
	log_info("%s: stopping; jobs resume from their records at the next start",
	         signum == SIGTERM ? "SIGTERM" : "SIGINT");
	dcv_notify_stopping();
	uv_signal_stop(&d->sighup);
	dcv_engine_stop(d->eng, on_stopped, d);
}

static void reload_load(uv_work_t *w)
{
	struct daemon *d = w->data;

	d->reload_cfg = NULL;
	d->reload_rc = load(d->config_path, &d->reload_cfg, false);
}

static void start_reload(struct daemon *d);

static void reload_loaded(uv_work_t *w, int status)
{
	struct daemon *d = w->data;

	d->reloading = false;
	if (d->eng == NULL || status < 0) {
		dcv_config_free(d->reload_cfg);
		d->reload_cfg = NULL;
		return;
	}
	if (d->reload_rc < 0) {
		log_err("reload: %s refused; keeping the running configuration", d->config_path);
	} else {
		dcv_engine_reload(d->eng, d->reload_cfg);
		log_info("reload: %s loaded", d->config_path);
	}
	d->reload_cfg = NULL;
	dcv_notify_ready();
	send_status(d);
	if (d->reload_again) {
		d->reload_again = false;
		start_reload(d);
	}
}

/*
 * The configuration is loaded on the thread pool: it reads key files and
 * resolves submitters' users and groups (NSS may ask a directory server),
 * which must not stall the loop. A SIGHUP during a reload asks for one more.
 */
static void start_reload(struct daemon *d)
{
	dcv_notify_reloading();
	d->reloading = true;
	d->reload_work.data = d;
	if (uv_queue_work(&d->loop, &d->reload_work, reload_load, reload_loaded) < 0) {
		d->reloading = false;
		log_err("reload: cannot start it; keeping the running configuration");
		dcv_notify_ready();
	}
}

static void on_reload(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	(void)signum;
	if (d->eng == NULL)
		return;
	if (d->reloading) {
		d->reload_again = true;
		return;
	}
	start_reload(d);
}

static int run(struct daemon *d, struct dcv_config *cfg)
{
	struct dcv_why why = {""};
	uint64_t watchdog_ms = dcv_notify_watchdog_ms();
	int rc = 1;

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&d->loop) != 0) {
		fprintf(stderr, "dcvd: cannot create the event loop\n");
		dcv_config_free(cfg);
		return 1;
	}
	if (dcv_engine_new(&d->loop, cfg, &d->eng, &why) < 0) {
		log_err("%s", why.text);
		uv_run(&d->loop, UV_RUN_DEFAULT); /* let what was opened close */
		uv_loop_close(&d->loop);
		return 1;
	}
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sighup);
	uv_timer_init(&d->loop, &d->status);
	uv_timer_init(&d->loop, &d->watchdog);
	d->sigterm.data = d->sigint.data = d->sighup.data = d;
	d->status.data = d->watchdog.data = d;
	uv_signal_start(&d->sigterm, on_stop_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_stop_signal, SIGINT);
	uv_signal_start(&d->sighup, on_reload, SIGHUP);
	if (dcv_engine_start(d->eng) < 0) {
		log_err("cannot watch the spool");
		dcv_engine_stop(d->eng, on_stopped, d);
	} else {
		uv_timer_start(&d->status, on_status, STATUS_EVERY_MS, STATUS_EVERY_MS);
		if (watchdog_ms > 0)
			uv_timer_start(&d->watchdog, on_watchdog, watchdog_ms / 2, watchdog_ms / 2);
		log_info("started (dcvd %s, configuration %s)", DCV_VERSION, d->config_path);
		dcv_notify_ready();
		send_status(d);
		rc = 0;
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	/*
	 * on_stopped() runs from the engine's last close callback and stops the
	 * loop before the handles it closed have gone through theirs: one more
	 * turn that does not wait finishes those, so that the loop can close.
	 */
	uv_run(&d->loop, UV_RUN_NOWAIT);
	/* A clean stop closed everything; after a forced one the handles die with the process. */
	if (uv_loop_close(&d->loop) != 0)
		log_debug("exiting with handles still open");
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'},
	    {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
	struct daemon d;
	struct dcv_config *cfg = NULL;
	bool check = false, verbose = false;
	int c;

	memset(&d, 0, sizeof(d));
	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("dcvd %s\n", DCV_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (d.config_path == NULL || optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	dcv_log_init("dcvd", verbose ? DCV_LOG_DEBUG : DCV_LOG_INFO);
	if (load(d.config_path, &cfg, true) < 0)
		return 2;
	if (check) {
		printf("configuration OK\n");
		dcv_config_free(cfg);
		return 0;
	}
	return run(&d, cfg);
}
