/*
 * test_dnsio_bench.c -- how much an exchange costs: many UDP exchanges
 * against a fast fake server, with exchanges per second and the CPU time of
 * the loop thread per exchange printed.
 *
 * The server runs in a thread of its own (recvmmsg and sendmmsg on one
 * blocking socket), so that the CPU time measured with RUSAGE_THREAD is
 * that of dnsio and the kernel work it causes, not the server's. The test
 * uses only the public API, so the same file measures any version of
 * dnsio. It fails when an exchange does not succeed; the figures are for
 * reading. DCV_DNSIO_BENCH_N sets the number of exchanges (default 50000;
 * less under valgrind).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "dnsio.h"
#include "testutil.h"
#include "wire.h"

#define BATCH 64
#define OUT_MAX 512

struct server {
	int fd;
	struct dcv_addr addr;
	pthread_t thread;
	atomic_bool stop;
	uint64_t seen;       /* queries answered */
	uint8_t ports[8192]; /* bit set: source ports seen */
	unsigned nports;     /* distinct source ports */
};

/* The reply to q: header and question copied, QR and AA set, one A record. */
static size_t make_reply(const uint8_t *q, size_t qlen, uint8_t *out)
{
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
	size_t end = 0;

	if (qlen > OUT_MAX - sizeof(rr) || dcv_wire_after_question(q, qlen, &end) < 0)
		return 0;
	memcpy(out, q, end);
	out[2] = (uint8_t)(out[2] | 0x84);
	out[3] = 0;
	dcv_wire_put16(out + 6, 1);
	dcv_wire_put16(out + 8, 0);
	dcv_wire_put16(out + 10, 0);
	memcpy(out + end, rr, sizeof(rr));
	return end + sizeof(rr);
}

static void note_port(struct server *s, const struct sockaddr_in *from)
{
	unsigned port = ntohs(from->sin_port);

	if (!(s->ports[port / 8] & (1u << (port % 8)))) {
		s->ports[port / 8] = (uint8_t)(s->ports[port / 8] | (1u << (port % 8)));
		s->nports++;
	}
}

static void *server_main(void *arg)
{
	static uint8_t in[BATCH][OUT_MAX], out[BATCH][OUT_MAX];
	struct server *s = arg;
	struct sockaddr_in peers[BATCH];
	struct iovec iin[BATCH], iout[BATCH];
	struct mmsghdr min[BATCH], mout[BATCH];
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};

	while (!atomic_load(&s->stop)) {
		int n, k = 0;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		memset(min, 0, sizeof(min));
		for (int i = 0; i < BATCH; i++) {
			iin[i] = (struct iovec){in[i], sizeof(in[i])};
			min[i].msg_hdr.msg_iov = &iin[i];
			min[i].msg_hdr.msg_iovlen = 1;
			min[i].msg_hdr.msg_name = &peers[i];
			min[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		}
		n = recvmmsg(s->fd, min, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		memset(mout, 0, sizeof(mout));
		for (int i = 0; i < n; i++) {
			size_t len = make_reply(in[i], min[i].msg_len, out[k]);
			if (len == 0)
				continue;
			note_port(s, &peers[i]);
			iout[k] = (struct iovec){out[k], len};
			mout[k].msg_hdr.msg_iov = &iout[k];
			mout[k].msg_hdr.msg_iovlen = 1;
			mout[k].msg_hdr.msg_name = &peers[i];
			mout[k].msg_hdr.msg_namelen = sizeof(peers[i]);
			k++;
		}
		for (int done = 0; done < k;) {
			int m = sendmmsg(s->fd, mout + done, (unsigned)(k - done), 0);
			if (m <= 0)
				break;
			done += m;
		}
		s->seen += (uint64_t)k;
	}
	return NULL;
}

static void server_start(struct server *s)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	int big = 4 << 20;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s->fd >= 0);
	/* A real server's socket buffer: the kernel caps it at rmem_max. */
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&in, &len), 0);
	dcv_addr_from_sockaddr((struct sockaddr *)&in, &s->addr);
	atomic_store(&s->stop, false);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

struct bench {
	uv_loop_t loop;
	struct dcv_dnsio *io;
	unsigned done, ok;
	int first_bad;
	char first_why[600];
	bool closed;
};

static void on_done(void *arg, int status, const uint8_t *msg, size_t len,
                    const struct dcv_why *why)
{
	struct bench *b = arg;

	b->done++;
	if (status == DCV_OK && msg != NULL && len > DCV_WIRE_HEADER) {
		b->ok++;
	} else if (b->first_bad == 0) {
		b->first_bad = status != 0 ? status : -1;
		snprintf(b->first_why, sizeof(b->first_why), "%s", why->text);
	}
}

static void on_closed(void *arg)
{
	struct bench *b = arg;

	b->closed = true;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static unsigned bench_n(void)
{
	const char *e = getenv("DCV_DNSIO_BENCH_N");
	unsigned long n = e != NULL ? strtoul(e, NULL, 10) : 0;

	return n > 0 && n < 10000000 ? (unsigned)n : 50000;
}

/* Starts n exchanges at once (they queue beyond max_inflight) and runs them all. */
static void run_bench(unsigned max_inflight)
{
	struct server s;
	struct bench *b = calloc(1, sizeof(*b));
	struct dcv_dnsio_opts o = {.max_inflight = max_inflight};
	struct dcv_dnsio_stats st;
	unsigned n = bench_n();
	uint8_t q[128], name[DCV_WIRE_NAME_MAX];
	char text[64];
	size_t nlen = 0;
	uint64_t t0, t1;
	double c0, c1;

	assert_non_null(b);
	server_start(&s);
	assert_int_equal(uv_loop_init(&b->loop), 0);
	b->io = dcv_dnsio_new(&b->loop, &o);
	assert_non_null(b->io);
	t0 = uv_hrtime();
	c0 = cpu_seconds();
	for (unsigned i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "_%08x.q%u.example.test", i * 2654435761u, i);
		assert_int_equal(dcv_wire_from_text(text, name, &nlen), DCV_OK);
		memset(q, 0, DCV_WIRE_HEADER);
		dcv_wire_put16(q, (uint16_t)(i * 40503u));
		dcv_wire_put16(q + 4, 1);
		memcpy(q + DCV_WIRE_HEADER, name, nlen);
		dcv_wire_put16(q + DCV_WIRE_HEADER + nlen, 5);
		dcv_wire_put16(q + DCV_WIRE_HEADER + nlen + 2, 1);
		assert_int_equal(dcv_dnsio_exchange(b->io, &s.addr, q, DCV_WIRE_HEADER + nlen + 4,
		                                    0, 0, NULL, on_done, b, NULL),
		                 DCV_OK);
	}
	while (b->done < n)
		uv_run(&b->loop, UV_RUN_ONCE);
	c1 = cpu_seconds();
	t1 = uv_hrtime();
	dcv_dnsio_get_stats(b->io, &st);
	dcv_dnsio_close(b->io, on_closed, b);
	while (!b->closed)
		uv_run(&b->loop, UV_RUN_ONCE);
	server_stop(&s);
	printf("dnsio bench: %u exchanges, max_inflight %u: %.0f exchanges/s, %.1f us CPU per "
	       "exchange (loop thread), %" PRIu64 " UDP tries, peak %zu in flight, "
	       "%u source ports\n",
	       n, max_inflight, n / ((double)(t1 - t0) / 1e9), (c1 - c0) * 1e6 / n, st.udp_tries,
	       st.peak_inflight, s.nports);
	fflush(stdout);
	if (b->ok != n)
		fail_msg("%u of %u exchanges failed, the first with %d: %s", n - b->ok, n,
		         b->first_bad, b->first_why);
	uv_run(&b->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&b->loop), 0);
	free(b);
}

static void test_bench_default(void **state)
{
	run_bench(0);
}

static void test_bench_256(void **state)
{
	run_bench(256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bench_default),
	    cmocka_unit_test(test_bench_256),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
