/*
 * config.h -- the configuration file (YAML, shaped like knot.conf) parsed
 * with libyaml into an immutable struct dcv_config.
 *
 *   spool: /var/spool/dcvd
 *   ttl: 300
 *   target: sectigo.com          # or comodoca.com
 *   placement: zone              # zone | fqdn
 *   withdraw_after: 7d           # duration; 0 keeps records
 *   keep: 30d                    # finished jobs' files and records; 0 keeps all
 *   visible_timeout: 1h          # give up on a job after this long
 *   hook: /usr/libexec/dcvd-hook # optional
 *   hook_timeout: 30s
 *   max_jobs: 100000             # jobs in flight
 *   max_jobs_per_submitter: 50000  # jobs in flight per submitting uid
 *   max_names: 1000              # names per CSR
 *   max_message_size: 65535      # bytes per UPDATE message
 *   key:
 *     - id: dcv                  # also the TSIG key name
 *       algorithm: hmac-sha256   # hmac-sha1/224/256/384/512; hmac-md5 needs allow_md5: true
 *       secret: BASE64           # or  file: /etc/dcvd/dcv.key  (tsig-keygen or keymgr output)
 *   remote:
 *     - id: primary
 *       address: [192.0.2.1@53, 2001:db8::1@53]   # one server's addresses (failover)
 *       key: dcv
 *   zone:
 *     - domain: example.com
 *       primary: [primary]       # every listed remote receives the updates
 *       nameservers: [192.0.2.1@53]  # optional; default: the zone's NS set
 *       submitters: [alice, group:pki]  # optional; default: whoever may write incoming/
 *   resolver: [127.0.0.1@53]     # optional, asked after every authoritative server
 *   poll_max: 2s                 # polling of a lagging server backs off to this (also per zone)
 *
 * Durations: a number of seconds, or a number with s, m, h, d or w.
 * Numbers: ttl 0..2147483647, max_jobs, max_jobs_per_submitter and
 * max_names at least 1, max_message_size 512..65535; visible_timeout and
 * hook_timeout at least 1s. max_jobs_per_submitter bounds the jobs in
 * flight of one submitting uid, so that one submitter cannot take every
 * max_jobs slot; the value kept is min(max_jobs_per_submitter, max_jobs).
 * spool and hook must be absolute paths; a relative key file is taken
 * relative to the configuration file's folder. A value left empty counts as
 * an error, except for the lists (key, remote, zone, resolver,
 * nameservers, submitters), where it means "none". Address lists, primary
 * and submitters also accept a single value instead of a list. Key ids
 * (and the key names of inline secrets) are compared in lower case without
 * a trailing dot; remote ids exactly as written.
 *
 * submitters: who may drop CSRs whose records go into the zone. Without the
 * key every user who can write incoming/ (the dcv-submit group) may get
 * records into every zone, as before; a host where several teams submit
 * should list them. Each entry is a user name, or group:NAME for every
 * member of the group: the users in its member list and every user whose
 * primary group it is. Names are resolved once, when the configuration is
 * loaded (at start and at SIGHUP), into the zone's sorted uid list, so the
 * check made for each CSR looks nothing up; a user added to a group later
 * counts after the next reload. An unknown user or group is an error
 * ("zone 'Z': submitters: no user 'x'" / "no group 'x'"), and so is a
 * failed lookup (the reload is refused rather than the list shrunk). An
 * entry made only of digits is refused, not taken as a uid ("'1000' is not
 * a user name"): a number that reads as either a uid or a name would say
 * two things, and names are what an administrator reviews. An empty list
 * (submitters: []) lets nobody submit into the zone. Root is no exception:
 * it may submit only when listed. A group member that is not a user, and a
 * group with no member at all, are warned about.
 *
 * YAML aliases, several documents and nesting deeper than 32 levels are
 * refused (see yin.h). Files over DCV_CONFIG_MAX_FILE are refused unread.
 *
 * Warnings (cfg->warnings, sorted by position; only a loaded configuration
 * has them): a remote without a key, an inline secret in a file other users
 * may read (mode & 0004; group-readable is fine), a key file other users
 * may read (as "KEYFILE: mode ..."), a hook that is not executable, no zone.
 *
 * Ownership: dcv_config_load() returns a config the caller frees with
 * dcv_config_free() (NULL-safe), which also wipes the key secrets. A loaded
 * config is never modified; a reload builds a new one.
 */
#ifndef DCV_CONFIG_H
#define DCV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "dcv/err.h"
#include "dcv/place.h"
#include "tsig.h"
#include "util.h"

#define DCV_DEFAULT_SPOOL "/var/spool/dcvd"
#define DCV_DEFAULT_WITHDRAW_AFTER (7 * 86400)
#define DCV_DEFAULT_KEEP (30 * 86400)
#define DCV_DEFAULT_VISIBLE_TIMEOUT 3600
#define DCV_DEFAULT_HOOK_TIMEOUT 30
#define DCV_DEFAULT_MAX_JOBS 100000
#define DCV_DEFAULT_MAX_JOBS_PER_SUBMITTER 50000
#define DCV_DEFAULT_MAX_NAMES 1000
/* Seconds: polling a server that lags backs off to this. */
#define DCV_DEFAULT_POLL_MAX 2
#define DCV_DEFAULT_MAX_MESSAGE_SIZE 65535
/* Larger files are refused unread. */
#define DCV_CONFIG_MAX_FILE (1024 * 1024)
#define DCV_KEYFILE_MAX_FILE (64 * 1024)
/* The longest duration accepted (about 136 years): fits every timer API. */
#define DCV_DURATION_MAX UINT64_C(4294967295)

struct dcv_key {
	char *id;
	struct dcv_tsig_key tsig;
	char *file; /* key file it came from, or NULL when inline */
};

struct dcv_remote {
	char *id;
	struct dcv_addr *addrs; /* failover order */
	size_t n_addrs;
	const struct dcv_key *key; /* NULL: unsigned updates (warned about) */
};

struct dcv_zone {
	char *domain; /* lower case, no trailing dot */
	const struct dcv_remote **primaries;
	size_t n_primaries;
	struct dcv_addr *nameservers; /* empty: discover the NS set */
	size_t n_nameservers;
	/*
	 * restricted: the zone has a submitters: key, and only the uids in
	 * submitters (sorted ascending, no duplicates; NULL when empty) may
	 * submit into it. false: everyone who can write incoming/ may.
	 */
	bool restricted;
	uid_t *submitters;
	size_t n_submitters;
	uint64_t poll_max; /* seconds; 0: the top-level poll_max */
};

struct dcv_config {
	char *file;
	char *spool;
	uint32_t ttl;
	char target[32];
	enum dcv_placement placement;
	uint64_t withdraw_after;  /* seconds; 0 keeps records */
	uint64_t keep;            /* seconds a finished job stays (its files, its record); 0: all */
	uint64_t visible_timeout; /* seconds */
	char *hook;               /* NULL: none */
	char *metrics_file;       /* Prometheus textfile to write; NULL: none */
	uint64_t hook_timeout;    /* seconds */
	uint64_t max_jobs;
	uint64_t max_jobs_per_submitter; /* already at most max_jobs */
	uint64_t poll_max;               /* seconds: the slowest polling of a server that lags */
	uint64_t max_names;
	uint64_t max_message_size;
	struct dcv_key *keys;
	size_t n_keys;
	struct dcv_remote *remotes;
	size_t n_remotes;
	struct dcv_zone *zones;
	size_t n_zones;
	const char **zone_names; /* zones[i].domain, for dcv_place() */
	struct dcv_addr *resolvers;
	size_t n_resolvers;
	struct dcv_strv warnings; /* "FILE:LINE:COL: ..." lines worth telling */
};

/*
 * Loads and checks path. On failure returns DCV_ECONFIG (or DCV_EIO when
 * the file cannot be read) and appends to errors one line per problem,
 * each "FILE:LINE:COL: what is wrong" -- every problem found, not only the
 * first. Checked: unknown keys, wrong types, bad addresses, durations,
 * numbers, algorithms, secrets, key files, duplicate ids, references to
 * undefined keys or remotes, zones without primaries, duplicate zones,
 * hmac-md5 without allow_md5: true, submitters naming no user or group
 * (or whose lookup failed). Errors are sorted by position (errors may be
 * NULL; at most DCV_YIN_MAX_ERRORS are listed, then one line saying that
 * more were left out). Also DCV_ENOMEM. Secrets never appear in any
 * message: not the secret's value, and not a value that might be one (an
 * algorithm value that holds no '-' is not quoted).
 *
 * Submitter names are looked up with getpwnam(), getgrnam() and a
 * getpwent() scan of every user, which may wait on a directory server:
 * load at start and on SIGHUP only (the loop waits for a reload anyway, as
 * it does for the key files), never per job, and from one thread at a time
 * (getpwent() has one cursor per process).
 */
int dcv_config_load(const char *path, struct dcv_config **out, struct dcv_strv *errors);

void dcv_config_free(struct dcv_config *cfg);

/* The zone whose domain is domain (any case, trailing dot optional), or NULL. */
const struct dcv_zone *dcv_config_zone(const struct dcv_config *cfg, const char *domain);

/*
 * Whether uid may submit CSRs whose records go into zone: true when the
 * zone has no submitters: key, otherwise when uid is in its list (a binary
 * search; root is not special). No lookup, no system call: safe on the
 * event loop.
 */
bool dcv_zone_may_submit(const struct dcv_zone *zone, uid_t uid);

/*
 * The refusal for a uid that dcv_zone_may_submit() turned away, into why:
 *   submitter NAME (uid N) may not submit names in zone DOMAIN (not in its submitters)
 * name is the submitter's user name as the caller found it (escaped here
 * with dcv_escape, as it comes from outside the configuration), or NULL
 * when the caller has none, which gives "submitter uid N may not ...". No
 * user lookup happens here: the caller may be on the event loop, where
 * getpwuid() (NSS, perhaps LDAP) must not run. why may be NULL.
 */
void dcv_zone_refusal(const struct dcv_zone *zone, uid_t uid, const char *name,
                      struct dcv_why *why);

/*
 * Parses "90", "90s", "15m", "12h", "7d", "2w" into seconds (digits, then at
 * most one lower-case unit; at most DCV_DURATION_MAX). DCV_EINVAL otherwise.
 */
int dcv_duration_parse(const char *text, uint64_t *seconds);

/*
 * Loads a TSIG key from a file written by BIND's tsig-keygen
 * (key "NAME" { algorithm ALG; secret "B64"; };) or Knot's keymgr
 * (YAML "key: - id: NAME algorithm: ALG secret: B64"). A file holding one
 * key gives that key, whatever its name; one holding several gives the
 * key named want_id (case-insensitive, trailing dot optional). The key's
 * name is the file's. BIND files may hold #, // and C comments and several
 * key statements, nothing else; keymgr's leading "# alg:name:secret" line is
 * a YAML comment. hmac-md5 keys load (the configuration decides about them).
 * A file readable by other users (mode & 0004) adds "PATH: mode 0644 ..." to
 * warnings (may be NULL). Errors: DCV_EIO (cannot open or read), DCV_EKEY
 * (anything else), DCV_ENOMEM; why is "PATH:LINE:COL: ..." where a position
 * is known, "PATH: ..." otherwise, and never holds the secret. On failure
 * out holds no secret. The file's bytes are wiped after parsing.
 */
int dcv_keyfile_load(const char *path, const char *want_id, struct dcv_tsig_key *out,
                     struct dcv_strv *warnings, struct dcv_why *why);

#endif
