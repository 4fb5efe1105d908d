/*
 * probe.c -- a stand-in for dcvd that does, under dcvd.service's sandbox,
 * what dcvd does (run.sh installs it as the unit's dcvd): reads the
 * configuration and a key file, reads a CSR a dcv-submit member dropped,
 * claims it by rename(), writes durably, watches incoming/ with inotify,
 * works on libuv's thread pool, sends UDP and connects TCP over IPv4 and
 * IPv6, runs a hook with uv_spawn, answers SIGHUP with RELOADING/READY,
 * pings the watchdog, and stops on SIGTERM. It also checks that what the
 * sandbox should refuse is refused.
 *
 * Every result is one line "ok NAME detail" or "FAIL NAME detail" in
 * SPOOL/state/probe.txt (and on stdout, the journal); when all are in,
 * STATUS= says "probe done, N failures". With --check it only reads the
 * configuration and the key, like `dcvd --check`.
 *
 * Environment (from run.sh's drop-in): PROBE_PORT, the port of the UDP/TCP
 * responder on 127.0.0.1 and ::1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#define SPOOL "/var/spool/dcvd"
#define CONFIG "/etc/dcvd/dcvd.yaml"
#define KEY "/etc/dcvd/dcv.key"
#define HOOK "/usr/local/libexec/dcvd-hook"

static FILE *results;
static int failures;
static int pending;
static uv_loop_t *loop;

static void __attribute__((format(printf, 3, 4)))
report(const char *name, int ok, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	fprintf(results, "%s %s %s\n", ok ? "ok" : "FAIL", name, detail);
	fflush(results);
	printf("probe: %s %s %s\n", ok ? "ok" : "FAIL", name, detail);
	fflush(stdout);
	if (!ok)
		failures++;
}

/* 0 or -errno. */
static int read_some(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (read(fd, buf, sizeof(buf)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* 0 or -errno: creates (or truncates) path and closes it. */
static int create_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return -errno;
	close(fd);
	unlink(path);
	return 0;
}

static void expect_ok(const char *name, int rc)
{
	report(name, rc == 0, "%s", rc == 0 ? "done" : strerror(-rc));
}

static void expect_refused(const char *name, int rc)
{
	report(name, rc != 0, "%s", rc != 0 ? strerror(-rc) : "allowed");
}

/* The job record dance of store.c: tmp file, fsync, rename, fsync dir, syncfs. */
static int durable_write(void)
{
	int fd = -1, dir = -1, rc = 0;

	fd = open(SPOOL "/state/.j1.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, "state: active\n", 14) != 14 || fsync(fd) != 0 || syncfs(fd) != 0)
		goto fail;
	if (rename(SPOOL "/state/.j1.tmp", SPOOL "/state/j1") != 0)
		goto fail;
	dir = open(SPOOL "/state", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || fsync(dir) != 0)
		goto fail;
	goto out;
fail:
	rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (dir >= 0)
		close(dir);
	return rc;
}

/* A copy of /bin/true in done/, mode 0750: the sandbox must refuse to run it. */
static int plant_executable(const char *path)
{
	char buf[65536];
	int in = -1, out = -1, rc = 0;
	ssize_t n;

	in = open("/bin/true", O_RDONLY | O_CLOEXEC);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0750);
	if (in < 0 || out < 0)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto fail;
	if (n < 0 || fchmod(out, 0750) != 0)
		goto fail;
	goto out;
fail:
	rc = -errno;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Block devices in /dev: none under PrivateDevices=. */
static int count_block_devices(void)
{
	DIR *dir = opendir("/dev");
	struct dirent *entry;
	struct stat st;
	int n = 0;

	if (dir == NULL)
		return 0;
	while ((entry = readdir(dir)) != NULL)
		if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISBLK(st.st_mode))
			n++;
	closedir(dir);
	return n;
}

static void sync_checks(void)
{
	gid_t groups[64];
	char list[256] = "";
	struct stat st;
	void *map;
	int n = getgroups(64, groups), rc, fd;

	for (int i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %u",
		         (unsigned)groups[i]);
	report("identity", 1, "uid %u gid %u groups%s", (unsigned)getuid(), (unsigned)getgid(),
	       list);

	expect_ok("read_config", read_some(CONFIG));
	expect_ok("read_key", read_some(KEY));
	expect_refused("etc_readonly", create_file("/etc/dcvd/probe", 0600));
	expect_refused("usr_readonly", create_file("/usr/local/probe", 0600));
	expect_refused("run_readonly", create_file("/run/lock/probe", 0600));
	expect_ok("read_incoming_0640", read_some(SPOOL "/incoming/a.csr"));
	rc = renameat2(AT_FDCWD, SPOOL "/incoming/a.csr", AT_FDCWD, SPOOL "/active/a.csr",
	               RENAME_NOREPLACE);
	expect_ok("claim_rename", rc == 0 ? 0 : -errno);
	expect_ok("durable_write", durable_write());
	rc = stat(SPOOL "/state/j1", &st) == 0 ? (int)(st.st_mode & 0777) : -1;
	report("umask_0027", rc == 0640, "mode %o", (unsigned)rc);
	expect_ok("private_tmp", create_file("/tmp/probe", 0600));
	expect_ok("private_var_tmp", create_file("/var/tmp/probe", 0600));
	expect_refused("home_hidden", access("/home/sub", F_OK) == 0 ? 0 : -errno);
	expect_refused("proc_pid1_hidden", access("/proc/1/status", F_OK) == 0 ? 0 : -errno);
	expect_refused("proc_subset", access("/proc/sys/kernel/hostname", F_OK) == 0 ? 0 : -errno);
	expect_refused("dev_shm_hidden", create_file("/dev/shm/probe", 0600));
	expect_refused("no_block_devices", count_block_devices() > 0 ? 0 : -ENOENT);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	expect_refused("netlink_refused", fd < 0 ? -errno : 0);
	if (fd >= 0)
		close(fd);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	expect_refused("packet_refused", fd < 0 ? -errno : 0);
	if (fd >= 0)
		close(fd);
	expect_refused("setuid_refused", setuid(0) == 0 ? 0 : -errno);
	fd = open(SPOOL "/state/j1", O_RDONLY | O_CLOEXEC);
	expect_refused("chown_refused", fchown(fd, getuid(), getgid()) == 0 ? 0 : -errno);
	if (fd >= 0)
		close(fd);
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	           0);
	expect_refused("wx_memory_refused", map == MAP_FAILED ? -errno : 0);
	expect_refused("unshare_refused", unshare(CLONE_NEWUSER) == 0 ? 0 : -errno);
	expect_ok("plant_executable", plant_executable(SPOOL "/done/true"));
}

/* --- inotify, thread pool ------------------------------------------------ */

static uv_fs_event_t watch;

static void on_watch(uv_fs_event_t *handle, const char *file, int events, int status)
{
	if (file == NULL || strcmp(file, ".probe") != 0)
		return;
	report("inotify", status == 0, "event for %s", file);
	uv_fs_event_stop(handle);
	pending--;
}

static void start_watch(void)
{
	int rc;

	uv_fs_event_init(loop, &watch);
	pending++;
	rc = uv_fs_event_start(&watch, on_watch, SPOOL "/incoming", 0);
	if (rc != 0) {
		report("inotify", 0, "%s", uv_strerror(rc));
		pending--;
		return;
	}
	/* dcvd owns incoming/, so it may make (and remove) a dot-file there. */
	create_file(SPOOL "/incoming/.probe", 0600);
}

static uv_work_t work;
static int work_rc = 1;

static void work_run(uv_work_t *req)
{
	*(int *)req->data = read_some(SPOOL "/active/a.csr");
}

static void work_done(uv_work_t *req, int status)
{
	report("threadpool", status == 0 && work_rc == 0, "status %d read %d", status, work_rc);
	pending--;
}

/* --- network --------------------------------------------------------------- */

struct udp_probe {
	uv_udp_t handle;
	uv_udp_send_t send;
	const char *name;
	char buf[64];
};

static void udp_alloc(uv_handle_t *handle, size_t size, uv_buf_t *buf)
{
	struct udp_probe *p = handle->data;

	*buf = uv_buf_init(p->buf, sizeof(p->buf));
}

static void udp_read(uv_udp_t *handle, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                     unsigned flags)
{
	struct udp_probe *p = handle->data;

	if (n == 0 && from == NULL)
		return;
	report(p->name, n > 0, "reply of %zd bytes", n);
	uv_close((uv_handle_t *)handle, NULL);
	pending--;
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	struct udp_probe *p = req->handle->data;

	if (status == 0)
		return;
	report(p->name, 0, "send: %s", uv_strerror(status));
	uv_close((uv_handle_t *)req->handle, NULL);
	pending--;
}

static void start_udp(struct udp_probe *p, const char *name, const struct sockaddr *to)
{
	uv_buf_t ping = uv_buf_init((char *)"ping", 4);
	int rc;

	p->name = name;
	uv_udp_init(loop, &p->handle);
	p->handle.data = p;
	pending++;
	rc = uv_udp_send(&p->send, &p->handle, &ping, 1, to, udp_sent);
	if (rc == 0)
		rc = uv_udp_recv_start(&p->handle, udp_alloc, udp_read);
	if (rc != 0) {
		report(name, 0, "%s", uv_strerror(rc));
		pending--;
	}
}

struct tcp_probe {
	uv_tcp_t handle;
	uv_connect_t connect;
	const char *name;
};

static void tcp_connected(uv_connect_t *req, int status)
{
	struct tcp_probe *p = req->handle->data;

	report(p->name, status == 0, "connect: %s", status == 0 ? "done" : uv_strerror(status));
	uv_close((uv_handle_t *)req->handle, NULL);
	pending--;
}

static void start_tcp(struct tcp_probe *p, const char *name, const struct sockaddr *to)
{
	int rc;

	p->name = name;
	uv_tcp_init(loop, &p->handle);
	p->handle.data = p;
	pending++;
	rc = uv_tcp_connect(&p->connect, &p->handle, to, tcp_connected);
	if (rc != 0) {
		report(name, 0, "connect: %s", uv_strerror(rc));
		pending--;
	}
}

/* --- processes --------------------------------------------------------------- */

struct spawn_probe {
	uv_process_t process;
	const char *name;
	int must_work;
};

static void spawn_exited(uv_process_t *process, int64_t status, int signal)
{
	struct spawn_probe *p = process->data;
	int worked = status == 0 && signal == 0;

	report(p->name, worked == p->must_work, "exit %lld signal %d", (long long)status, signal);
	uv_close((uv_handle_t *)process, NULL);
	pending--;
}

static void start_spawn(struct spawn_probe *p, const char *name, const char *file, int must_work)
{
	char *args[] = {(char *)file, NULL};
	char *env[] = {"DCV_EVENT=visible", "DCV_SPOOL=" SPOOL, "PATH=/usr/local/bin:/usr/bin:/bin",
	               NULL};
	uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
	                                 {.flags = UV_INHERIT_FD, .data.fd = 1},
	                                 {.flags = UV_INHERIT_FD, .data.fd = 2}};
	uv_process_options_t options = {.file = file,
	                                .args = args,
	                                .env = env,
	                                .exit_cb = spawn_exited,
	                                .stdio = stdio,
	                                .stdio_count = 3};
	int rc;

	p->name = name;
	p->must_work = must_work;
	p->process.data = p;
	pending++;
	rc = uv_spawn(loop, &p->process, &options);
	if (rc != 0) {
		report(name, !must_work, "spawn: %s", uv_strerror(rc));
		pending--;
	}
}

/* --- systemd ------------------------------------------------------------------ */

static uv_timer_t watchdog, done;
static uv_signal_t sighup, sigterm;

static void on_watchdog(uv_timer_t *timer)
{
	sd_notify(0, "WATCHDOG=1");
}

static void on_sighup(uv_signal_t *handle, int signum)
{
	sd_notify(0, "RELOADING=1");
	fprintf(results, "reload\n");
	fflush(results);
	sd_notify(0, "READY=1\nSTATUS=reloaded");
}

static void on_sigterm(uv_signal_t *handle, int signum)
{
	sd_notify(0, "STOPPING=1");
	fprintf(results, "stopping\n");
	fflush(results);
	uv_stop(loop);
}

static void on_done(uv_timer_t *timer)
{
	if (pending > 0)
		return;
	uv_timer_stop(timer);
	fprintf(results, "summary failures=%d\n", failures);
	fflush(results);
	sd_notifyf(0, "STATUS=probe done, %d failures", failures);
}

int main(int argc, char **argv)
{
	static struct udp_probe udp4, udp6;
	static struct tcp_probe tcp4, tcp6;
	static struct spawn_probe hook, planted;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	const char *port_env = getenv("PROBE_PORT");
	int port = port_env ? atoi(port_env) : 0;
	uint64_t usec = 0;

	if (argc > 3 && strcmp(argv[3], "--check") == 0) {
		int config = read_some(CONFIG), key = read_some(KEY);

		printf("probe --check: config %s, key %s\n", strerror(-config), strerror(-key));
		return config != 0 || key != 0 ? 2 : 0;
	}
	results = fopen(SPOOL "/state/probe.txt", "a");
	if (results == NULL) {
		perror(SPOOL "/state/probe.txt");
		return 1;
	}
	loop = uv_default_loop();
	sync_checks();
	start_watch();
	work.data = &work_rc;
	pending++;
	uv_queue_work(loop, &work, work_run, work_done);
	uv_ip4_addr("127.0.0.1", port, &in4);
	uv_ip6_addr("::1", port, &in6);
	start_udp(&udp4, "udp4", (struct sockaddr *)&in4);
	start_udp(&udp6, "udp6", (struct sockaddr *)&in6);
	start_tcp(&tcp4, "tcp4", (struct sockaddr *)&in4);
	start_tcp(&tcp6, "tcp6", (struct sockaddr *)&in6);
	start_spawn(&hook, "hook", HOOK, 1);
	start_spawn(&planted, "exec_spool_refused", SPOOL "/done/true", 0);

	uv_signal_init(loop, &sighup);
	uv_signal_start(&sighup, on_sighup, SIGHUP);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_sigterm, SIGTERM);
	if (sd_watchdog_enabled(0, &usec) > 0) {
		uv_timer_init(loop, &watchdog);
		uv_timer_start(&watchdog, on_watchdog, usec / 2000, usec / 2000);
		fprintf(results, "watchdog %llu ms\n", (unsigned long long)(usec / 1000));
	}
	uv_timer_init(loop, &done);
	uv_timer_start(&done, on_done, 100, 100);
	sd_notify(0, "READY=1\nSTATUS=probing");
	uv_run(loop, UV_RUN_DEFAULT);
	fprintf(results, "exit\n");
	fclose(results);
	return 0;
}
