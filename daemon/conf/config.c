/* config.c -- the configuration file: reading, plain options, defaults. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cfgload.h"
#include "dcv/dcv.h"

enum top_key {
	TOP_SPOOL,
	TOP_TTL,
	TOP_TARGET,
	TOP_PLACEMENT,
	TOP_WITHDRAW_AFTER,
	TOP_VISIBLE_TIMEOUT,
	TOP_HOOK,
	TOP_HOOK_TIMEOUT,
	TOP_MAX_JOBS,
	TOP_MAX_JOBS_PER_SUBMITTER,
	TOP_MAX_NAMES,
	TOP_MAX_MESSAGE_SIZE,
	TOP_KEY,
	TOP_REMOTE,
	TOP_ZONE,
	TOP_RESOLVER,
	TOP_POLL_MAX,
	TOP_METRICS_FILE,
	TOP_KEEP,
	TOP_COUNT
};

static const char *const top_keys[] = {
    [TOP_SPOOL] = "spool",
    [TOP_TTL] = "ttl",
    [TOP_TARGET] = "target",
    [TOP_PLACEMENT] = "placement",
    [TOP_WITHDRAW_AFTER] = "withdraw_after",
    [TOP_VISIBLE_TIMEOUT] = "visible_timeout",
    [TOP_HOOK] = "hook",
    [TOP_HOOK_TIMEOUT] = "hook_timeout",
    [TOP_MAX_JOBS] = "max_jobs",
    [TOP_MAX_JOBS_PER_SUBMITTER] = "max_jobs_per_submitter",
    [TOP_MAX_NAMES] = "max_names",
    [TOP_MAX_MESSAGE_SIZE] = "max_message_size",
    [TOP_KEY] = "key",
    [TOP_REMOTE] = "remote",
    [TOP_ZONE] = "zone",
    [TOP_RESOLVER] = "resolver",
    [TOP_POLL_MAX] = "poll_max",
    [TOP_METRICS_FILE] = "metrics_file",
    [TOP_KEEP] = "keep",
    [TOP_COUNT] = NULL,
};

int dcv_duration_parse(const char *text, uint64_t *seconds)
{
	uint64_t n = 0, unit = 1;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return DCV_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > DCV_DURATION_MAX)
			return DCV_EINVAL;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return DCV_EINVAL;
	}
	if (*p != '\0' && p[1] != '\0')
		return DCV_EINVAL;
	if (n > DCV_DURATION_MAX / unit)
		return DCV_EINVAL;
	*seconds = n * unit;
	return DCV_OK;
}

void cfg_warn(struct cfg_loader *l, const struct dcv_yin_node *at, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL || dcv_strv_pushf(&l->cfg->warnings, "%s:%lu:%lu: %s", l->y.name,
	                                  at ? at->line : 1, at ? at->col : 1, msg) < 0)
		l->y.oom = true;
	free(msg);
}

/* A whole number in [min, max], digits only. */
static void opt_number(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                       uint64_t min, uint64_t max, uint64_t *out)
{
	const char *text = NULL;
	char quoted[48];
	uint64_t n = 0;
	const char *p = NULL;

	if (node == NULL || (text = dcv_yin_text(&l->y, node, what)) == NULL)
		return;
	for (p = text; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			break;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	dcv_yin_quote(text, 32, quoted, sizeof(quoted));
	if (p == text || (*p != '\0' && (*p < '0' || *p > '9'))) {
		dcv_yin_error(&l->y, node, "%s: '%s' is not a whole number", what, quoted);
		return;
	}
	if (*p != '\0' || n < min || n > max) {
		dcv_yin_error(&l->y, node, "%s: %s is out of range (%" PRIu64 " to %" PRIu64 ")",
		              what, quoted, min, max);
		return;
	}
	*out = n;
}

void cfg_duration(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                  uint64_t min, uint64_t *out)
{
	const char *text = NULL;
	char quoted[48];
	uint64_t n = 0;

	if (node == NULL || (text = dcv_yin_text(&l->y, node, what)) == NULL)
		return;
	dcv_yin_quote(text, 32, quoted, sizeof(quoted));
	if (dcv_duration_parse(text, &n) < 0) {
		dcv_yin_error(&l->y, node,
		              "%s: '%s' is not a duration (seconds, or a number with s, m, h, d or "
		              "w; at most %" PRIu64 " seconds)",
		              what, quoted, (uint64_t)DCV_DURATION_MAX);
		return;
	}
	if (n < min) {
		dcv_yin_error(&l->y, node, "%s: must be at least %" PRIu64 "s", what, min);
		return;
	}
	*out = n;
}

bool cfg_path_printable(const char *path)
{
	for (; *path != '\0'; path++)
		if ((unsigned char)*path < ' ' || *path == 0x7f)
			return false;
	return true;
}

/* An absolute path; replaces *out (which holds the default or NULL). */
static int opt_path(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                    char **out)
{
	const char *text = NULL;
	char quoted[80];
	char *copy = NULL;

	if (node == NULL || (text = dcv_yin_text(&l->y, node, what)) == NULL)
		return DCV_OK;
	if (text[0] != '/') {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, node, "%s: '%s' is not an absolute path", what, quoted);
		return DCV_OK;
	}
	if (!cfg_path_printable(text)) {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, node, "%s: '%s' holds a control character", what, quoted);
		return DCV_OK;
	}
	/* Every use would fail (ENAMETOOLONG), each time with a message too long to show why. */
	if (strlen(text) >= PATH_MAX) {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, node,
		              "%s: '%s' is %zu bytes long, more than a path may be (%d)", what,
		              quoted, strlen(text), PATH_MAX - 1);
		return DCV_OK;
	}
	copy = strdup(text);
	if (copy == NULL)
		return DCV_ENOMEM;
	free(*out);
	*out = copy;
	return DCV_OK;
}

static void opt_target(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf buf;
	struct dcv_why why;
	const char *text = NULL;

	if (node == NULL || (text = dcv_yin_text(&l->y, node, "target")) == NULL)
		return;
	opts.target = text;
	if (dcv_opts_check(&opts, &buf, &why) < 0) {
		dcv_yin_error(&l->y, node, "%s", why.text);
		return;
	}
	snprintf(l->cfg->target, sizeof(l->cfg->target), "%s", buf.target);
}

static void opt_placement(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	const char *text = NULL;
	char quoted[48];

	if (node == NULL || (text = dcv_yin_text(&l->y, node, "placement")) == NULL)
		return;
	if (strcasecmp(text, "zone") == 0) {
		l->cfg->placement = DCV_PLACE_ZONE;
	} else if (strcasecmp(text, "fqdn") == 0) {
		l->cfg->placement = DCV_PLACE_FQDN;
	} else {
		dcv_yin_quote(text, 32, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, node, "placement: '%s' is neither zone nor fqdn", quoted);
	}
}

int cfg_addresses(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                  bool required, struct dcv_addr **out, size_t *n_out)
{
	long n = dcv_yin_count(&l->y, node, what, true);
	struct dcv_why why;
	const char *text = NULL;
	int rc = DCV_OK;

	*out = NULL;
	*n_out = 0;
	if (n == 0 && required)
		dcv_yin_error(&l->y, node, "%s: at least one address is required", what);
	if (n <= 0)
		goto out;
	*out = calloc((size_t)n, sizeof(**out));
	if (*out == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < (size_t)n; i++) {
		const struct dcv_yin_node *item = dcv_yin_item(node, i);

		if ((text = dcv_yin_text(&l->y, item, what)) == NULL)
			continue;
		if (dcv_addr_parse(text, &(*out)[*n_out], &why) < 0) {
			dcv_yin_error(&l->y, item, "%s: %s", what, why.text);
			continue;
		}
		(*n_out)++;
	}
out:
	return rc;
}

static void set_defaults(struct dcv_config *cfg)
{
	cfg->ttl = DCV_DEFAULT_TTL;
	snprintf(cfg->target, sizeof(cfg->target), "%s", DCV_DEFAULT_TARGET);
	cfg->placement = DCV_PLACE_ZONE;
	cfg->withdraw_after = DCV_DEFAULT_WITHDRAW_AFTER;
	cfg->keep = DCV_DEFAULT_KEEP;
	cfg->visible_timeout = DCV_DEFAULT_VISIBLE_TIMEOUT;
	cfg->hook_timeout = DCV_DEFAULT_HOOK_TIMEOUT;
	cfg->max_jobs = DCV_DEFAULT_MAX_JOBS;
	cfg->max_jobs_per_submitter = DCV_DEFAULT_MAX_JOBS_PER_SUBMITTER;
	cfg->poll_max = DCV_DEFAULT_POLL_MAX;
	cfg->max_names = DCV_DEFAULT_MAX_NAMES;
	cfg->max_message_size = DCV_DEFAULT_MAX_MESSAGE_SIZE;
}

/*
 * metrics_file: node_exporter's textfile collector reads only *.prom files,
 * and dcvd writes its temporary file next to it under a name without
 * .prom: a name that does not end so is a mistake worth telling, as is a
 * folder that is not there (yet: the daemon says so again at each write).
 */
static int opt_metrics_file(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	struct dcv_config *cfg = l->cfg;
	const char *slash = NULL;
	char dir[4096];
	struct stat st;
	size_t len = 0;
	int rc = opt_path(l, node, "metrics_file", &cfg->metrics_file);

	if (rc < 0 || cfg->metrics_file == NULL)
		return rc;
	len = strlen(cfg->metrics_file);
	if (len < 6 || strcmp(cfg->metrics_file + len - 5, ".prom") != 0)
		cfg_warn(l, node,
		         "metrics_file: %s does not end in .prom: node_exporter's textfile "
		         "collector will not read it",
		         cfg->metrics_file);
	slash = strrchr(cfg->metrics_file, '/');
	snprintf(dir, sizeof(dir), "%.*s",
	         slash == cfg->metrics_file ? 1 : (int)(slash - cfg->metrics_file),
	         cfg->metrics_file);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		cfg_warn(l, node, "metrics_file: folder %s is not a directory here: %s", dir,
		         stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
	return DCV_OK;
}

/* A duration as the file would say it: the largest of d, h, m, s that divides it. */
static void duration_text(uint64_t s, char *buf, size_t size)
{
	static const struct {
		uint64_t secs;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
	size_t i = 0;

	while (i < sizeof(units) / sizeof(units[0]) && (s == 0 || s % units[i].secs != 0))
		i++;
	if (i < sizeof(units) / sizeof(units[0]))
		snprintf(buf, size, "%" PRIu64 "%c", s / units[i].secs, units[i].unit);
	else
		snprintf(buf, size, "%" PRIu64 "s", s);
}

/*
 * keep: how long the files and record of a finished job stay. Its age
 * counts from when the job let go of its records (withdrawn, or a failed
 * job's cleanup done), so a keep shorter than withdraw_after deletes
 * nothing early; but the operator who set it likely thought it counted
 * from the submission, and the history of finished jobs then goes much
 * sooner than the live ones: worth a warning that says what happens.
 */
static void opt_keep(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	struct dcv_config *cfg = l->cfg;
	char keep[32], after[32];

	cfg_duration(l, node, "keep", 0, &cfg->keep);
	if (cfg->keep == 0 || cfg->withdraw_after == 0 || cfg->keep >= cfg->withdraw_after)
		return;
	duration_text(cfg->keep, keep, sizeof(keep));
	duration_text(cfg->withdraw_after, after, sizeof(after));
	cfg_warn(l, node,
	         "keep (%s) is shorter than withdraw_after (%s): keep counts from a job's "
	         "withdrawal, so each job stays in done/ for withdraw_after plus keep, but a "
	         "finished job's status file and record are deleted %s after its records are "
	         "withdrawn; set keep to at least withdraw_after to keep that history as long",
	         keep, after, keep);
}

static int plain_options(struct cfg_loader *l, const struct dcv_yin_node **v)
{
	struct dcv_config *cfg = l->cfg;
	uint64_t ttl = cfg->ttl;
	int rc = DCV_OK;

	if ((rc = opt_path(l, v[TOP_SPOOL], "spool", &cfg->spool)) < 0)
		goto out;
	opt_number(l, v[TOP_TTL], "ttl", 0, INT32_MAX, &ttl);
	cfg->ttl = (uint32_t)ttl;
	opt_target(l, v[TOP_TARGET]);
	opt_placement(l, v[TOP_PLACEMENT]);
	cfg_duration(l, v[TOP_WITHDRAW_AFTER], "withdraw_after", 0, &cfg->withdraw_after);
	cfg_duration(l, v[TOP_VISIBLE_TIMEOUT], "visible_timeout", 1, &cfg->visible_timeout);
	opt_keep(l, v[TOP_KEEP]);
	if ((rc = opt_path(l, v[TOP_HOOK], "hook", &cfg->hook)) < 0)
		goto out;
	if (cfg->hook != NULL && access(cfg->hook, X_OK) != 0)
		cfg_warn(l, v[TOP_HOOK], "hook: %s is not an executable file here: %s", cfg->hook,
		         strerror(errno));
	cfg_duration(l, v[TOP_HOOK_TIMEOUT], "hook_timeout", 1, &cfg->hook_timeout);
	cfg_duration(l, v[TOP_POLL_MAX], "poll_max", 1, &cfg->poll_max);
	if ((rc = opt_metrics_file(l, v[TOP_METRICS_FILE])) < 0)
		goto out;
	opt_number(l, v[TOP_MAX_JOBS], "max_jobs", 1, UINT32_MAX, &cfg->max_jobs);
	opt_number(l, v[TOP_MAX_JOBS_PER_SUBMITTER], "max_jobs_per_submitter", 1, UINT32_MAX,
	           &cfg->max_jobs_per_submitter);
	/*
	 * A share larger than the whole means the whole: keeping the effective
	 * value lets the engine compare against one number, and a small
	 * max_jobs (a test, a tiny host) needs no second line to go with it.
	 */
	if (cfg->max_jobs_per_submitter > cfg->max_jobs)
		cfg->max_jobs_per_submitter = cfg->max_jobs;
	opt_number(l, v[TOP_MAX_NAMES], "max_names", 1, UINT32_MAX, &cfg->max_names);
	opt_number(l, v[TOP_MAX_MESSAGE_SIZE], "max_message_size", 512, 65535,
	           &cfg->max_message_size);
out:
	return rc;
}

/* Everything the file says, into l->cfg; problems go to the error list. */
static int fill(struct cfg_loader *l)
{
	const struct dcv_yin_node *v[TOP_COUNT + 1];
	struct dcv_config *cfg = l->cfg;
	int rc = DCV_OK;

	for (size_t i = 0; i <= TOP_COUNT; i++)
		v[i] = NULL;
	if (l->y.root != NULL &&
	    !dcv_yin_fields(&l->y, l->y.root, "configuration", top_keys, v, NULL))
		goto out;
	if ((rc = plain_options(l, v)) < 0)
		goto out;
	/* Keys first: remotes refer to keys, zones to remotes. */
	if ((rc = cfg_keys(l, v[TOP_KEY])) < 0 || (rc = cfg_remotes(l, v[TOP_REMOTE])) < 0 ||
	    (rc = cfg_zones(l, v[TOP_ZONE])) < 0)
		goto out;
	if ((rc = cfg_addresses(l, v[TOP_RESOLVER], "resolver", false, &cfg->resolvers,
	                        &cfg->n_resolvers)) < 0)
		goto out;
	if (cfg->n_zones == 0 && l->y.n_errors == 0)
		cfg_warn(l, v[TOP_ZONE], "no zone is configured: every name will be refused");
out:
	return rc;
}

/* The folder holding path ("." when path has none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* An inline secret in a file everybody may read deserves a warning. */
static void check_mode(struct cfg_loader *l, const char *path)
{
	struct stat st;

	if (l->first_secret == NULL || strcmp(path, "-") == 0 || stat(path, &st) < 0)
		return;
	if (st.st_mode & S_IROTH)
		cfg_warn(l, l->first_secret,
		         "mode %04o lets every user read the TSIG secret in %s; run chmod o-rwx "
		         "on it or move the secret to a key file",
		         (unsigned)(st.st_mode & 07777), path);
}

/* The position of a "PATH:LINE:COL: ..." message; lines without one sort last. */
static void message_position(const char *msg, size_t path_len, unsigned long *line,
                             unsigned long *col)
{
	char *end = NULL;

	*line = ULONG_MAX;
	*col = ULONG_MAX;
	if (strlen(msg) <= path_len || msg[path_len] != ':' || msg[path_len + 1] < '0' ||
	    msg[path_len + 1] > '9')
		return;
	*line = strtoul(msg + path_len + 1, &end, 10);
	if (*end == ':' && end[1] >= '0' && end[1] <= '9')
		*col = strtoul(end + 1, NULL, 10);
}

/*
 * The sections are checked in a fixed order (keys before the remotes that
 * use them); reading the problems in file order is easier. A stable
 * insertion sort: there are at most DCV_YIN_MAX_ERRORS + 1 of them.
 */
static void sort_messages(struct dcv_strv *sv, size_t from, const char *path)
{
	size_t path_len = strlen(path);
	unsigned long line_a = 0, col_a = 0, line_b = 0, col_b = 0;

	for (size_t i = from + 1; i < sv->n; i++) {
		char *msg = sv->v[i];
		size_t j = i;

		message_position(msg, path_len, &line_a, &col_a);
		while (j > from) {
			message_position(sv->v[j - 1], path_len, &line_b, &col_b);
			if (line_b < line_a || (line_b == line_a && col_b <= col_a))
				break;
			sv->v[j] = sv->v[j - 1];
			j--;
		}
		sv->v[j] = msg;
	}
}

int dcv_config_load(const char *path, struct dcv_config **out, struct dcv_strv *errors)
{
	size_t first_error = errors != NULL ? errors->n : 0;
	struct cfg_loader l;
	struct dcv_why why;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = DCV_ENOMEM;

	memset(&l, 0, sizeof(l));
	*out = NULL;
	l.y.name = path;
	l.y.errors = errors;
	l.cfg = calloc(1, sizeof(*l.cfg));
	l.dir = dir_of(path);
	if (l.cfg == NULL || l.dir == NULL)
		goto out;
	set_defaults(l.cfg);
	if ((l.cfg->file = strdup(path)) == NULL ||
	    (l.cfg->spool = strdup(DCV_DEFAULT_SPOOL)) == NULL)
		goto out;
	rc = dcv_read_file(path, DCV_CONFIG_MAX_FILE, &buf, &len, &why);
	if (rc < 0) {
		if (rc != DCV_ENOMEM && errors != NULL &&
		    dcv_strv_pushf(errors, "%s: %s", path, why.text) < 0)
			rc = DCV_ENOMEM;
		if (rc != DCV_EIO && rc != DCV_ENOMEM)
			rc = DCV_ECONFIG;
		goto out;
	}
	rc = dcv_yin_parse(&l.y, path, buf, len, errors);
	if (rc == DCV_OK)
		rc = fill(&l);
	if (rc == DCV_OK)
		check_mode(&l, path);
	if (rc == DCV_ENOMEM || l.y.oom) {
		rc = DCV_ENOMEM;
		goto out;
	}
	if (rc < 0 || l.y.n_errors > 0) {
		if (errors != NULL)
			sort_messages(errors, first_error, path);
		rc = DCV_ECONFIG;
		goto out;
	}
	sort_messages(&l.cfg->warnings, 0, path);
	*out = l.cfg;
	l.cfg = NULL;
	rc = DCV_OK;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	dcv_yin_free(&l.y);
	dcv_config_free(l.cfg);
	free(l.dir);
	return rc;
}

void dcv_config_free(struct dcv_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_keys; i++) {
		dcv_tsig_key_clear(&cfg->keys[i].tsig);
		free(cfg->keys[i].id);
		free(cfg->keys[i].file);
	}
	free(cfg->keys);
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		free(cfg->remotes[i].id);
		free(cfg->remotes[i].addrs);
	}
	free(cfg->remotes);
	for (size_t i = 0; i < cfg->n_zones; i++) {
		free(cfg->zones[i].domain);
		free(cfg->zones[i].primaries);
		free(cfg->zones[i].nameservers);
		free(cfg->zones[i].submitters);
	}
	free(cfg->zones);
	free(cfg->zone_names);
	free(cfg->resolvers);
	free(cfg->file);
	free(cfg->spool);
	free(cfg->hook);
	free(cfg->metrics_file);
	dcv_strv_free(&cfg->warnings);
	free(cfg);
}

const struct dcv_zone *dcv_config_zone(const struct dcv_config *cfg, const char *domain)
{
	size_t n = strlen(domain);

	if (n > 0 && domain[n - 1] == '.')
		n--;
	for (size_t i = 0; i < cfg->n_zones; i++)
		if (strlen(cfg->zones[i].domain) == n &&
		    strncasecmp(cfg->zones[i].domain, domain, n) == 0)
			return &cfg->zones[i];
	return NULL;
}
