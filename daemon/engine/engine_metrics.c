/*
 * engine_metrics.c -- the engine's side of metrics.h: what it counts where
 * things happen, and the writer of metrics_file following the
 * configuration (started, moved at a reload, stopped with the engine).
 */
#include <string.h>

#include "engine_int.h"
#include "log.h"

static void engine_metrics_open(struct dcv_engine *eng, const char *path)
{
	eng->mwriter = dcv_metrics_writer_new(eng->loop, path, &eng->metrics);
	if (eng->mwriter == NULL)
		log_err("metrics_file %s: out of memory; not written", path);
}

void engine_metrics_start(struct dcv_engine *eng)
{
	const char *path = eng->cfg->cfg->metrics_file;

	if (path != NULL && eng->mwriter == NULL)
		engine_metrics_open(eng, path);
}

static void engine_metrics_closed(void *arg)
{
	engine_release(arg);
}

void engine_metrics_reload(struct dcv_engine *eng, const struct dcv_config *cfg)
{
	if (cfg->metrics_file == NULL && eng->mwriter != NULL) {
		/* The last file stays as it was written: the collector's folder is not ours to
		 * clean. */
		dcv_metrics_writer_close(eng->mwriter, NULL, NULL);
		eng->mwriter = NULL;
	} else if (cfg->metrics_file != NULL && eng->mwriter == NULL) {
		engine_metrics_open(eng, cfg->metrics_file);
	} else if (cfg->metrics_file != NULL &&
	           dcv_metrics_writer_path(eng->mwriter, cfg->metrics_file) < 0) {
		log_err("reload: metrics_file %s: out of memory; still writing the old file",
		        cfg->metrics_file);
	}
}

void engine_metrics_stop(struct dcv_engine *eng)
{
	if (eng->mwriter == NULL)
		return;
	eng->metrics.up = false;
	eng->closing++;
	dcv_metrics_writer_close(eng->mwriter, engine_metrics_closed, eng);
	eng->mwriter = NULL;
}

void engine_metrics_moved(struct dcv_engine *eng, enum dcv_job_state from, enum dcv_job_state to)
{
	dcv_metrics_job_moved(&eng->metrics, from, to);
	if (eng->mwriter != NULL && from != to)
		dcv_metrics_writer_touch(eng->mwriter);
}

void engine_metrics_update(struct dcv_engine *eng, enum dcv_update_op op,
                           const struct dcv_update_outcome *outcomes, size_t n)
{
	const char *labels[3];

	for (size_t o = 0; o < n; o++) {
		/* A remote never reached has no address to name. */
		labels[0] = outcomes[o].server != NULL ? outcomes[o].server->text : "none";
		labels[1] = op == DCV_UPDATE_ADD ? "add" : "delete";
		labels[2] = dcv_metrics_update_rcode(outcomes[o].status);
		/* Without memory the count is lost, and nothing else. */
		(void)dcv_metrics_count(&eng->metrics.updates, labels, 3);
	}
	if (eng->mwriter != NULL)
		dcv_metrics_writer_touch(eng->mwriter);
}

void engine_metrics_probe(struct dcv_engine *eng, const struct dcv_probe_report *rep)
{
	const char *labels[3];

	for (size_t i = 0; i < rep->n_obs; i++) {
		const struct dcv_probe_obs *o = &rep->obs[i];
		if ((labels[2] = dcv_metrics_query_outcome(o->seen)) == NULL)
			continue;
		labels[0] = o->server;
		labels[1] = o->resolver ? "resolver" : "authoritative";
		(void)dcv_metrics_count(&eng->metrics.queries, labels, 3);
	}
}
