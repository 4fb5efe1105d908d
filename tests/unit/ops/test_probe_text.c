/*
 * test_probe_text.c -- dcv_probe_disagreements() (probe_text.c) on reports
 * written here: one line per observation that is not as expected, with the
 * serial reason of authoritative servers (against the serial the primary
 * held the record in, serial arithmetic across the wrap), none for
 * resolvers or unknown serials, the cap on lines, and a round that could
 * not run.
 */
#include <stdio.h>
#include <string.h>

#include "dcv/strv.h"
#include "probe.h"
#include "testutil.h"

static struct dcv_probe_obs obs(const char *server, bool resolver, bool ok, const char *zone,
                                uint32_t serial, bool serial_known)
{
	struct dcv_probe_obs o;

	memset(&o, 0, sizeof(o));
	o.name = "www.example.test";
	snprintf(o.qname, sizeof(o.qname), "_x.example.test.");
	snprintf(o.server, sizeof(o.server), "%s", server);
	snprintf(o.seen, sizeof(o.seen), "NXDOMAIN");
	o.resolver = resolver;
	o.ok = ok;
	o.zone = zone;
	o.serial = serial;
	o.serial_known = serial_known;
	return o;
}

static void test_lines_and_reasons(void **state)
{
	/* Another zone's held serial comes first: only the same zone's counts. */
	static const struct dcv_probe_held held[] = {
	    {NULL, 1}, {"other.test", 100}, {"example.test", 5}};
	struct dcv_probe_obs o[] = {
	    obs("192.0.2.1@53", false, true, "example.test", 5, true),   /* ok: no line */
	    obs("192.0.2.2@53", false, false, "example.test", 4, true),  /* older */
	    obs("192.0.2.3@53", false, false, "example.test", 5, true),  /* the same */
	    obs("192.0.2.4@53", false, false, "example.test", 0, false), /* serial unknown */
	    obs("192.0.2.5@53", false, false, NULL, 9, true),            /* no zone */
	    obs("192.0.2.53@53", true, false, NULL, 0, false),           /* a resolver */
	    obs("192.0.2.6@53", false, false, "nowhere.test", 7, true),  /* nothing held */
	};
	struct dcv_probe_report rep = {.status = DCV_OK,
	                               .obs = o,
	                               .n_obs = sizeof(o) / sizeof(o[0]),
	                               .held = held,
	                               .n_held = sizeof(held) / sizeof(held[0])};
	struct dcv_strv lines = {0};

	(void)state;
	assert_int_equal(dcv_probe_disagreements(&rep, 0, &lines), DCV_OK);
	assert_int_equal(lines.n, 6);
	assert_string_equal(lines.v[0],
	                    "server 192.0.2.2@53 asked _x.example.test. for www.example.test: "
	                    "NXDOMAIN (at serial 4; the primary held the record at serial 5: no "
	                    "transfer yet -- did the NOTIFY arrive, when is the refresh due?)");
	assert_string_equal(lines.v[1],
	                    "server 192.0.2.3@53 asked _x.example.test. for www.example.test: "
	                    "NXDOMAIN (at serial 5; the primary held the record at serial 5: this "
	                    "copy should hold it too)");
	assert_string_equal(lines.v[2], "server 192.0.2.4@53 asked _x.example.test. for "
	                                "www.example.test: NXDOMAIN");
	assert_string_equal(lines.v[3], "server 192.0.2.5@53 asked _x.example.test. for "
	                                "www.example.test: NXDOMAIN");
	assert_string_equal(lines.v[4], "resolver 192.0.2.53@53 asked _x.example.test. for "
	                                "www.example.test: NXDOMAIN");
	assert_string_equal(lines.v[5], "server 192.0.2.6@53 asked _x.example.test. for "
	                                "www.example.test: NXDOMAIN (at serial 7)");
	/* At most two lines. */
	assert_int_equal(dcv_probe_disagreements(&rep, 2, &lines), DCV_OK);
	assert_int_equal(lines.n, 2);
	dcv_strv_free(&lines);
}

/* Serials wrap (RFC 1982): 4294967295 is older than 3, 3 is not older than 4294967295. */
static void test_serial_wrap(void **state)
{
	static const struct dcv_probe_held held_small[] = {{"example.test", 3}};
	static const struct dcv_probe_held held_big[] = {{"example.test", 4294967295u}};
	struct dcv_probe_obs big =
	    obs("192.0.2.2@53", false, false, "example.test", 4294967295u, true);
	struct dcv_probe_obs small = obs("192.0.2.2@53", false, false, "example.test", 3, true);
	struct dcv_probe_report rep = {
	    .status = DCV_OK, .obs = &big, .n_obs = 1, .held = held_small, .n_held = 1};
	struct dcv_strv lines = {0};

	(void)state;
	assert_int_equal(dcv_probe_disagreements(&rep, 0, &lines), DCV_OK);
	assert_non_null(strstr(lines.v[0], "no transfer yet"));
	rep.obs = &small;
	rep.held = held_big;
	assert_int_equal(dcv_probe_disagreements(&rep, 0, &lines), DCV_OK);
	assert_non_null(strstr(lines.v[0], "this copy should hold it too"));
	dcv_strv_free(&lines);
}

/* A round that could not run says only why. */
static void test_round_failed(void **state)
{
	struct dcv_probe_obs o = obs("192.0.2.2@53", false, false, "example.test", 4, true);
	struct dcv_probe_report rep = {.status = DCV_ENOMEM, .obs = &o, .n_obs = 1};
	struct dcv_strv lines = {0};

	(void)state;
	snprintf(rep.why, sizeof(rep.why), "out of memory for the probe round's report");
	assert_int_equal(dcv_probe_disagreements(&rep, 0, &lines), DCV_OK);
	assert_int_equal(lines.n, 1);
	assert_string_equal(lines.v[0], "out of memory for the probe round's report");
	dcv_strv_free(&lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_and_reasons),
	    cmocka_unit_test(test_serial_wrap),
	    cmocka_unit_test(test_round_failed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
