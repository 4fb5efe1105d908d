/*
 * cfgsubmit.c -- a zone's submitters: user names and group:NAME entries,
 * resolved to a sorted uid list when the configuration is loaded, and the
 * check made against that list for every CSR.
 *
 * The lookups (getpwnam, getgrnam, a getpwent scan) may go through NSS to a
 * directory server and block; that is why they happen here, in the loader,
 * which runs at start and at SIGHUP only, and why the check made for each
 * CSR is a binary search over numbers.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgsubmit.h"

#define GROUP_PREFIX "group:"
#define GROUP_PREFIX_LEN (sizeof(GROUP_PREFIX) - 1)

/* The uids collected for one zone, in the order found, duplicates and all. */
struct uid_list {
	uid_t *v;
	size_t n, cap;
};

static int uid_push(struct uid_list *u, uid_t uid)
{
	uid_t *grown = NULL;
	size_t cap = 0;
	int rc = DCV_OK;

	if (u->n == u->cap) {
		cap = u->cap == 0 ? 16 : 2 * u->cap;
		if (cap > SIZE_MAX / sizeof(*grown) ||
		    (grown = realloc(u->v, cap * sizeof(*grown))) == NULL) {
			rc = DCV_ENOMEM;
			goto out;
		}
		u->v = grown;
		u->cap = cap;
	}
	u->v[u->n++] = uid;
out:
	return rc;
}

static int uid_cmp(const void *a, const void *b)
{
	uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;

	return (x > y) - (x < y);
}

/* Sorts the list and drops repeats: a user may be listed and also be in a listed group. */
static void uids_sort_unique(struct uid_list *u)
{
	size_t kept = 0;

	if (u->n > 0)
		qsort(u->v, u->n, sizeof(*u->v), uid_cmp);
	for (size_t i = 0; i < u->n; i++)
		if (kept == 0 || u->v[kept - 1] != u->v[i])
			u->v[kept++] = u->v[i];
	u->n = kept;
}

/*
 * errno after getpwnam(), getgrnam() or getpwent() returned NULL: whether
 * that meant "no such entry" (0 and the codes POSIX and glibc use for it)
 * rather than a failure to look (EIO, ENOMEM, a directory server down...).
 * The difference matters: a failed lookup must fail the load, so that a
 * reload keeps the running list instead of silently shrinking it.
 */
static bool not_found(int err)
{
	return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

/* Entries made of digits only would read as uids; they are refused (see config.h). */
static bool all_digits(const char *s)
{
	bool digits = *s != '\0';

	for (; *s != '\0' && digits; s++)
		digits = *s >= '0' && *s <= '9';
	return digits;
}

static int add_user(struct cfg_loader *l, const struct dcv_yin_node *item, const char *sub,
                    const char *name, struct uid_list *u)
{
	struct passwd *pw = NULL;
	char quoted[80];
	int err = 0, rc = DCV_OK;

	errno = 0;
	pw = getpwnam(name);
	err = errno;
	if (pw != NULL) {
		rc = uid_push(u, pw->pw_uid);
		goto out;
	}
	dcv_yin_quote(name, 64, quoted, sizeof(quoted));
	if (not_found(err))
		dcv_yin_error(&l->y, item, "%s: no user '%s'", sub, quoted);
	else
		dcv_yin_error(&l->y, item, "%s: cannot look up user '%s': %s", sub, quoted,
		              strerror(err));
out:
	return rc;
}

/* The users named in the group's member list (gr_mem). */
static int add_members(struct cfg_loader *l, const struct dcv_yin_node *item, const char *sub,
                       const char *group, const struct dcv_strv *members, struct uid_list *u)
{
	struct passwd *pw = NULL;
	char quoted[80];
	int err = 0, rc = DCV_OK;

	for (size_t i = 0; i < members->n; i++) {
		errno = 0;
		pw = getpwnam(members->v[i]);
		err = errno;
		if (pw != NULL) {
			if ((rc = uid_push(u, pw->pw_uid)) < 0)
				goto out;
			continue;
		}
		dcv_yin_quote(members->v[i], 64, quoted, sizeof(quoted));
		/* A stale name in /etc/group is the system's untidiness, not ours. */
		if (not_found(err))
			cfg_warn(l, item, "%s: group '%s' lists '%s', which is not a user", sub,
			         group, quoted);
		else
			dcv_yin_error(&l->y, item, "%s: cannot look up user '%s' of group '%s': %s",
			              sub, quoted, group, strerror(err));
	}
out:
	return rc;
}

/*
 * The users whose primary group is gid: they are members too, though
 * /etc/group does not name them (useradd's user private groups, for
 * instance). Only a scan of every user finds them.
 */
static int add_primary(struct cfg_loader *l, const struct dcv_yin_node *item, const char *sub,
                       const char *group, gid_t gid, struct uid_list *u)
{
	struct passwd *pw = NULL;
	int err = 0, rc = DCV_OK;

	setpwent();
	for (;;) {
		errno = 0;
		if ((pw = getpwent()) == NULL) {
			err = errno;
			break;
		}
		if (pw->pw_gid == gid && (rc = uid_push(u, pw->pw_uid)) < 0)
			goto out;
	}
	if (!not_found(err))
		dcv_yin_error(&l->y, item, "%s: cannot list the users of group '%s': %s", sub,
		              group, strerror(err));
out:
	endpwent();
	return rc;
}

static int add_group(struct cfg_loader *l, const struct dcv_yin_node *item, const char *sub,
                     const char *name, struct uid_list *u)
{
	struct dcv_strv members = {0};
	struct group *gr = NULL;
	char quoted[80];
	size_t before = u->n;
	gid_t gid = 0;
	int err = 0, rc = DCV_OK;

	dcv_yin_quote(name, 64, quoted, sizeof(quoted));
	errno = 0;
	gr = getgrnam(name);
	err = errno;
	if (gr == NULL) {
		if (not_found(err))
			dcv_yin_error(&l->y, item, "%s: no group '%s'", sub, quoted);
		else
			dcv_yin_error(&l->y, item, "%s: cannot look up group '%s': %s", sub, quoted,
			              strerror(err));
		goto out;
	}
	/*
	 * getgrnam() answers in a static buffer that later lookups may reuse
	 * (POSIX promises nothing across calls, and NSS modules differ), so
	 * the member names are copied before any user is looked up.
	 */
	gid = gr->gr_gid;
	for (char **m = gr->gr_mem; m != NULL && *m != NULL; m++)
		if ((rc = dcv_strv_push(&members, *m)) < 0)
			goto out;
	if ((rc = add_members(l, item, sub, quoted, &members, u)) < 0 ||
	    (rc = add_primary(l, item, sub, quoted, gid, u)) < 0)
		goto out;
	if (u->n == before)
		cfg_warn(l, item, "%s: group '%s' has no members: it lets nobody submit", sub,
		         quoted);
out:
	dcv_strv_free(&members);
	return rc;
}

static int add_entry(struct cfg_loader *l, const struct dcv_yin_node *item, const char *sub,
                     struct uid_list *u)
{
	const char *text = dcv_yin_text(&l->y, item, sub);
	const char *name = text;
	bool group = false;
	char quoted[80];
	int rc = DCV_OK;

	if (text == NULL)
		goto out;
	if (strncmp(text, GROUP_PREFIX, GROUP_PREFIX_LEN) == 0) {
		group = true;
		name = text + GROUP_PREFIX_LEN;
	}
	if (name[0] == '\0' || all_digits(name)) {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, item, "%s: '%s' is not a %s name%s", sub, quoted,
		              group ? "group" : "user",
		              name[0] != '\0' ? " (numeric ids are not accepted: write the name)"
		                              : "");
		goto out;
	}
	rc = group ? add_group(l, item, sub, name, u) : add_user(l, item, sub, name, u);
out:
	return rc;
}

int cfg_submitters(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                   struct dcv_zone *z)
{
	struct uid_list u = {NULL, 0, 0};
	char sub[320];
	long n = 0;
	int rc = DCV_OK;

	if (node == NULL)
		goto out;
	/* The key alone restricts: an empty or broken list lets nobody in, never everybody. */
	z->restricted = true;
	snprintf(sub, sizeof(sub), "%s: submitters", what);
	n = dcv_yin_count(&l->y, node, sub, true);
	for (size_t i = 0; n > 0 && i < (size_t)n; i++)
		if ((rc = add_entry(l, dcv_yin_item(node, i), sub, &u)) < 0)
			goto out;
	uids_sort_unique(&u);
	z->submitters = u.v;
	z->n_submitters = u.n;
	u.v = NULL;
out:
	free(u.v);
	return rc;
}

bool dcv_zone_may_submit(const struct dcv_zone *zone, uid_t uid)
{
	size_t lo = 0, hi = zone->n_submitters, mid = 0;
	bool ok = !zone->restricted;

	while (!ok && lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (zone->submitters[mid] < uid)
			lo = mid + 1;
		else if (zone->submitters[mid] > uid)
			hi = mid;
		else
			ok = true;
	}
	return ok;
}

void dcv_zone_refusal(const struct dcv_zone *zone, uid_t uid, const char *name, struct dcv_why *why)
{
	char escaped[160];

	if (name == NULL) {
		dcv_why_set(why,
		            "submitter uid %lu may not submit names in zone %s (not in its "
		            "submitters)",
		            (unsigned long)uid, zone->domain);
	} else {
		dcv_escape(escaped, sizeof(escaped), name, strlen(name));
		dcv_why_set(why,
		            "submitter %s (uid %lu) may not submit names in zone %s (not in its "
		            "submitters)",
		            escaped, (unsigned long)uid, zone->domain);
	}
}
