/*
 * test_torture_conf.c -- every allocation of conf/ failed in turn
 * (failalloc.h): a full configuration (config.c, cfgpeers.c, cfgsubmit.c,
 * key files through keyfile.c), one full of mistakes, and key files of
 * both formats, good and broken. Each gives its full result or DCV_ENOMEM
 * with nothing returned (and, for a configuration, no error line that
 * would blame the file for the lack of memory), and ASan finds no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "failalloc.h"
#include "testutil.h"
#include "tufiles.h"
#include "util.h"

#define SECRET32 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static void digest_addr(struct fa_result *res, const struct dcv_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fa_printf(res, "%s,", a[i].text);
}

static void digest_config(struct fa_result *res, const struct dcv_config *cfg)
{
	fa_printf(res, "%s %s %u %s %d %llu %llu %llu %s %s|", cfg->file, cfg->spool, cfg->ttl,
	          cfg->target, (int)cfg->placement, (unsigned long long)cfg->withdraw_after,
	          (unsigned long long)cfg->keep, (unsigned long long)cfg->max_jobs,
	          cfg->hook ? cfg->hook : "-", cfg->metrics_file ? cfg->metrics_file : "-");
	for (size_t i = 0; i < cfg->n_keys; i++) {
		char hex[2 * DCV_TSIG_SECRET_MAX + 1];

		dcv_hex(cfg->keys[i].tsig.secret, cfg->keys[i].tsig.secret_len, hex);
		fa_printf(res, "key %s %s %s %s;", cfg->keys[i].id,
		          dcv_tsig_alg_name(cfg->keys[i].tsig.alg), hex,
		          cfg->keys[i].file ? cfg->keys[i].file : "-");
	}
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		fa_printf(res, "remote %s %s ", cfg->remotes[i].id,
		          cfg->remotes[i].key ? cfg->remotes[i].key->id : "-");
		digest_addr(res, cfg->remotes[i].addrs, cfg->remotes[i].n_addrs);
	}
	for (size_t i = 0; i < cfg->n_zones; i++) {
		const struct dcv_zone *z = &cfg->zones[i];

		fa_printf(res, "zone %s=%s ", z->domain, cfg->zone_names[i]);
		for (size_t p = 0; p < z->n_primaries; p++)
			fa_printf(res, "p=%s ", z->primaries[p]->id);
		digest_addr(res, z->nameservers, z->n_nameservers);
		fa_printf(res, " r=%d", z->restricted);
		for (size_t s = 0; s < z->n_submitters; s++)
			fa_printf(res, " %u", (unsigned)z->submitters[s]);
		fa_printf(res, " %llu;", (unsigned long long)z->poll_max);
	}
	digest_addr(res, cfg->resolvers, cfg->n_resolvers);
	for (size_t i = 0; i < cfg->warnings.n; i++)
		fa_printf(res, "|w %s", cfg->warnings.v[i]);
}

struct config_case {
	const char *path;
	struct dcv_strv want_errors; /* of a load with memory enough */
};

static void run_config(void *state, struct fa_result *res)
{
	struct config_case *cc = state;
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};

	res->rc = dcv_config_load(cc->path, &cfg, &errors);
	if (res->rc < 0)
		assert_null(cfg);
	if (res->rc == DCV_ENOMEM) {
		/*
		 * The mistakes found before memory ran out may be listed, but no
		 * line may blame the file for what the allocator did.
		 */
		for (size_t i = 0; i < errors.n; i++)
			if (!dcv_strv_contains(&cc->want_errors, errors.v[i]))
				fail_msg("out of memory gave the error line '%s'", errors.v[i]);
	}
	if (cfg != NULL)
		digest_config(res, cfg);
	for (size_t i = 0; i < errors.n; i++)
		fa_printf(res, "|e %s", errors.v[i]);
	dcv_config_free(cfg);
	dcv_strv_free(&errors);
}

static void write_key_files(void)
{
	tu_put("bind.key", 0640,
	       "# two keys, comments of every kind\n"
	       "key \"other.key\" { algorithm hmac-sha256; secret \"" SECRET32 "\"; };\n"
	       "// the one we want\n"
	       "key \"dcv.key.\" {\n\talgorithm hmac-sha512; /* c */ secret \"" SECRET32
	       "\";\n};\n");
	tu_put("knot.key", 0644,
	       "# hmac-sha256:knot.key:" SECRET32 "\n"
	       "key:\n"
	       "  - id: knot.key\n"
	       "    algorithm: hmac-sha256\n"
	       "    secret: " SECRET32 "\n");
	tu_put("broken.key", 0600,
	       "key \"b\" { algorithm hmac-sha256; secret \"" SECRET32 "\" };\n"
	       "key \"c\" { algorithm; };\n");
}

static void test_config_full(void **state)
{
	char text[4096];
	struct config_case cc = {tu_path("full.yaml"), {0}};

	write_key_files();
	snprintf(text, sizeof(text),
	         "spool: %s/spool\n"
	         "ttl: 600\n"
	         "target: comodoca.com\n"
	         "placement: fqdn\n"
	         "withdraw_after: 2d\n"
	         "keep: 3w\n"
	         "visible_timeout: 30m\n"
	         "hook: /bin/true\n"
	         "hook_timeout: 10s\n"
	         "metrics_file: %s/dcvd.prom\n"
	         "max_jobs: 1000\n"
	         "max_jobs_per_submitter: 10\n"
	         "poll_max: 5s\n"
	         "max_names: 50\n"
	         "max_message_size: 4096\n"
	         "key:\n"
	         "  - id: inline.key\n"
	         "    algorithm: hmac-sha384\n"
	         "    secret: " SECRET32 "\n"
	         "  - id: dcv.key\n"
	         "    file: bind.key\n"
	         "  - id: knot.key\n"
	         "    file: %s/knot.key\n"
	         "remote:\n"
	         "  - id: a\n"
	         "    address: [127.0.0.1@5353, '::1', 192.0.2.7]\n"
	         "    key: dcv.key\n"
	         "  - id: b\n"
	         "    address: 192.0.2.8@53\n"
	         "    key: knot.key\n"
	         "  - id: c\n"
	         "    address: 192.0.2.9\n"
	         "zone:\n"
	         "  - domain: Example.Test.\n"
	         "    primary: [a, b]\n"
	         "    nameservers: [192.0.2.1, 2001:db8::1@5300]\n"
	         "    submitters: [root, 'group:daemon', 'group:root']\n"
	         "    poll_max: 1s\n"
	         "  - domain: sub.example.test\n"
	         "    primary: c\n"
	         "  - domain: other.test\n"
	         "    primary: a\n"
	         "    submitters: []\n"
	         "resolver: [127.0.0.1, '::1@53']\n",
	         tu_dir, tu_dir, tu_dir);
	tu_put("full.yaml", 0600, text);
	fa_torture("full configuration", run_config, &cc, DCV_OK, NULL, 0);
}

static void test_config_mistakes(void **state)
{
	static const int accept[] = {DCV_ENOMEM};
	struct config_case cc = {NULL, {0}};
	struct dcv_config *cfg = NULL;

	write_key_files();
	cc.path = tu_put("bad.yaml", 0600,
	                 "spool: relative/path\n"
	                 "ttl: 12x\n"
	                 "target: example.com\n"
	                 "placement: everywhere\n"
	                 "withdraw_after: -1\n"
	                 "hook: [a, b]\n"
	                 "metrics_file: /nonexistent-dir/x.txt\n"
	                 "max_jobs: 99999999999999999999999\n"
	                 "unknown_key: 1\n"
	                 "key:\n"
	                 "  - id: k1\n"
	                 "    algorithm: hmac-md5\n"
	                 "    secret: " SECRET32 "\n"
	                 "  - id: k1\n"
	                 "    algorithm: rot13\n"
	                 "    secret: '!!notbase64'\n"
	                 "  - id: k2\n"
	                 "    file: broken.key\n"
	                 "  - id: k3\n"
	                 "    file: missing.key\n"
	                 "  - id: k4\n"
	                 "    file: bind.key\n"
	                 "    secret: x\n"
	                 "  - {id: k5, algorithm: hmac-sha256}\n"
	                 "  - plain\n"
	                 "remote:\n"
	                 "  - id: r1\n"
	                 "    address: [999.1.1.1, 'host@x']\n"
	                 "    key: nokey\n"
	                 "  - id: r1\n"
	                 "  - address: 127.0.0.1\n"
	                 "zone:\n"
	                 "  - domain: a..b\n"
	                 "    primary: [nowhere]\n"
	                 "    submitters: [nosuchuser-dcvtest, 'group:nosuchgroup-dcvtest', '123', "
	                 "'group:']\n"
	                 "    poll_max: soon\n"
	                 "  - domain: example.test\n"
	                 "  - domain: Example.test.\n"
	                 "    primary: r1\n"
	                 "    nameservers: {a: b}\n"
	                 "resolver: nothing\n");
	assert_int_equal(dcv_config_load(cc.path, &cfg, &cc.want_errors), DCV_ECONFIG);
	assert_true(cc.want_errors.n >= 20);
	fa_torture("configuration with mistakes", run_config, &cc, DCV_ECONFIG, accept, 1);
	dcv_strv_free(&cc.want_errors);
}

struct key_case {
	const char *path;
	const char *want_id;
};

static void run_keyfile(void *state, struct fa_result *res)
{
	struct key_case *kc = state;
	struct dcv_tsig_key key;
	struct dcv_strv warnings = {0};
	struct dcv_why why = {{0}};
	char hex[2 * DCV_TSIG_SECRET_MAX + 1];

	memset(&key, 0, sizeof(key));
	res->rc = dcv_keyfile_load(kc->path, kc->want_id, &key, &warnings, &why);
	if (res->rc < 0) {
		/* "On failure out holds no secret." */
		for (size_t i = 0; i < sizeof(key.secret); i++)
			assert_int_equal(key.secret[i], 0);
		assert_true(why.text[0] != '\0');
		fa_printf(res, "%s", why.text);
	} else {
		dcv_hex(key.secret, key.secret_len, hex);
		fa_printf(res, "%s %s %s", key.name, dcv_tsig_alg_name(key.alg), hex);
	}
	for (size_t i = 0; i < warnings.n; i++)
		fa_printf(res, "|w %s", warnings.v[i]);
	dcv_tsig_key_clear(&key);
	dcv_strv_free(&warnings);
}

static void test_keyfiles(void **state)
{
	struct key_case bind = {NULL, "DCV.key"}, knot = {NULL, NULL}, broken = {NULL, NULL},
	                absent = {NULL, "nothere"};
	static const int accept[] = {DCV_ENOMEM};

	write_key_files();
	bind.path = knot.path = tu_path("bind.key");
	knot.path = tu_path("knot.key");
	broken.path = tu_path("broken.key");
	absent.path = tu_path("bind.key");
	fa_torture("BIND key file", run_keyfile, &bind, DCV_OK, NULL, 0);
	fa_torture("keymgr key file", run_keyfile, &knot, DCV_OK, NULL, 0);
	fa_torture("broken key file", run_keyfile, &broken, DCV_EKEY, accept, 1);
	fa_torture("key not in the file", run_keyfile, &absent, DCV_EKEY, accept, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_full, tu_dir_setup, tu_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_config_mistakes, tu_dir_setup, tu_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_keyfiles, tu_dir_setup, tu_dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
