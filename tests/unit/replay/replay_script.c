/*
 * replay_script.c -- reading a scenario file (replay.h's language): its
 * lines, comments and blanks removed; the entries with their replies and
 * the DNSSEC and EDE lines that go with a reply; the tsig and zonekey
 * lines; and the parts the test reads itself (replay_section(),
 * replay_lines()). A syntax error ends the test program with the file and
 * line (replay_die()).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "replay_int.h"

static int rps_rcode(const char *name, int line)
{
	ldns_lookup_table *t = ldns_lookup_by_name(ldns_rcodes, name);

	if (t == NULL)
		replay_die(line, "unknown rcode %s", name);
	return t->id;
}

/* RFC 8945's TSIG error codes by name. */
static int rps_tsig_error_code(const char *name, int line)
{
	static const char *const names[] = {"BADSIG", "BADKEY", "BADTIME"};

	for (int i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return 16 + i;
	replay_die(line, "tsigerror BADSIG, BADKEY or BADTIME, not %s", name);
}

static void rps_reply(struct rp_entry *e, char *words, int line, enum rp_action action)
{
	struct rp_reply *r = NULL;
	char *save = NULL;

	if (e->n_replies == REPLAY_MAX_REPLIES)
		replay_die(line, "more than %d replies in one entry", REPLAY_MAX_REPLIES);
	r = &e->replies[e->n_replies++];
	r->action = action;
	r->ede = -1;
	for (char *w = strtok_r(words, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (strcmp(w, "aa") == 0)
			r->aa = true;
		else if (strcmp(w, "signed") == 0)
			r->signed_ok = true;
		else if (strcmp(w, "forged") == 0)
			r->forged = true;
		else if (strcmp(w, "tsigerror") == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL)
			r->tsig_error = rps_tsig_error_code(w, line);
		else if (strcmp(w, "ad") == 0)
			r->ad = true;
		else if (strcmp(w, "badtime") == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL) {
			r->badtime = true;
			r->server_skew = strtol(w, NULL, 10);
		} else if (strcmp(w, "late") == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL)
			r->late = strtoull(w, NULL, 10);
		else if (action == RP_REPLY && isupper((unsigned char)w[0]))
			r->rcode = rps_rcode(w, line);
		else
			replay_die(line, "what is \"%s\"?", w);
	}
}

/*
 * The lines after a reply that add DNSSEC to it:
 *   dnskey KEY                        KEY's DNSKEY record in the answer
 *   rrsig KEY [from MIN] [until MIN]  every RRset of the answer signed by KEY,
 *                                     valid from now + MIN minutes (default -60)
 *                                     until now + MIN minutes (default 30 days)
 *   ede CODE [TEXT]                   an Extended DNS Error option (RFC 8914)
 * False when l is none of them.
 */
static bool rps_dnssec(struct rp_reply *r, const char *l, int line)
{
	char key[64] = "", w1[16] = "", w2[16] = "";
	long v1 = 0, v2 = 0;
	int used = 0;

	if (sscanf(l, "dnskey %63s", key) == 1) {
		if (r->n_dnskeys == REPLAY_MAX_KEYS)
			replay_die(line, "too many dnskey lines");
		replay_zonekey(key, line);
		snprintf(r->dnskeys[r->n_dnskeys++], sizeof(r->dnskeys[0]), "%s", key);
	} else if (sscanf(l, "rrsig %63s", key) == 1) {
		int n = sscanf(l, "rrsig %*s %15s %ld %15s %ld", w1, &v1, w2, &v2);
		size_t s = r->n_rrsigs;
		if (s == REPLAY_MAX_KEYS)
			replay_die(line, "too many rrsig lines");
		replay_zonekey(key, line);
		snprintf(r->rrsigs[s].key, sizeof(r->rrsigs[s].key), "%s", key);
		r->rrsigs[s].from_min = -60;
		r->rrsigs[s].until_min = 30 * 24 * 60;
		for (int k = 0; k + 1 < (n > 0 ? n : 0); k += 2) {
			const char *w = k ? w2 : w1;
			long v = k ? v2 : v1;
			if (strcmp(w, "from") == 0)
				r->rrsigs[s].from_min = v;
			else if (strcmp(w, "until") == 0)
				r->rrsigs[s].until_min = v;
			else
				replay_die(line, "rrsig KEY [from MIN] [until MIN]");
		}
		r->n_rrsigs++;
	} else if (sscanf(l, "ede %d%n", &r->ede, &used) == 1) {
		while (l[used] == ' ')
			used++;
		snprintf(r->ede_text, sizeof(r->ede_text), "%s", l + used);
	} else {
		return false;
	}
	return true;
}

static void rps_entry(size_t *i)
{
	struct rp_entry *e = NULL;
	size_t cap = replay_state.n_entries;
	char times[16] = "", count[16] = "";

	replay_state.entries = replay_grow(replay_state.entries, &cap, replay_state.n_entries,
	                                   sizeof(*replay_state.entries));
	e = &replay_state.entries[replay_state.n_entries++];
	memset(e, 0, sizeof(*e));
	e->line = replay_state.line_no[*i];
	e->uses = 1;
	if (sscanf(replay_state.lines[*i], "entry %63s %15s %255s %15s %15s", e->server, e->type,
	           e->name, times, count) < 3)
		replay_die(e->line, "entry SERVER TYPE NAME [times N | always]");
	if (strstr(replay_state.lines[*i], " until ") != NULL)
		e->until = strtoull(strstr(replay_state.lines[*i], " until ") + 7, NULL, 10);
	if (strcmp(times, "always") == 0)
		e->uses = -1;
	else if (strcmp(times, "times") == 0)
		e->uses = strtol(count, NULL, 10);
	for ((*i)++; *i < replay_state.n_lines && strcmp(replay_state.lines[*i], "end") != 0;
	     (*i)++) {
		char *l = replay_state.lines[*i];
		int line = replay_state.line_no[*i];
		struct rp_reply *last = e->n_replies ? &e->replies[e->n_replies - 1] : NULL;
		if (strncmp(l, "reply ", 6) == 0)
			rps_reply(e, l + 6, line, RP_REPLY);
		else if (strncmp(l, "garbled", 7) == 0)
			rps_reply(e, l + 7, line, RP_GARBLED);
		else if (strcmp(l, "timeout") == 0)
			rps_reply(e, l + 7, line, RP_TIMEOUT);
		else if (strcmp(l, "neterr") == 0)
			rps_reply(e, l + 6, line, RP_NETERR);
		else if (strncmp(l, "has ", 4) == 0) {
			e->has = realloc(e->has, (e->n_has + 1) * sizeof(*e->has));
			e->has[e->n_has++] = l + 4;
		} else if (strncmp(l, "lacks ", 6) == 0) {
			e->lacks = realloc(e->lacks, (e->n_lacks + 1) * sizeof(*e->lacks));
			e->lacks[e->n_lacks++] = l + 6;
		} else if (strncmp(l, "authority ", 10) == 0 && last != NULL &&
		           last->action == RP_REPLY) {
			last->authority = realloc(last->authority, (last->n_authority + 1) *
			                                               sizeof(*last->authority));
			last->authority[last->n_authority++] = l + 10;
		} else if (strncmp(l, "answer ", 7) == 0 && last != NULL &&
		           last->action == RP_REPLY) {
			last->answers =
			    realloc(last->answers, (last->n_answers + 1) * sizeof(*last->answers));
			last->answers[last->n_answers++] = l + 7;
		} else if (last != NULL && last->action == RP_REPLY && rps_dnssec(last, l, line)) {
			continue;
		} else
			replay_die(line, "in an entry: \"%s\"", l);
	}
	if (*i == replay_state.n_lines)
		replay_die(e->line, "entry without end");
}

void replay_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[2048];
	size_t cap = 0, cap_no = 0, cap_raw = 0;
	int line = 0;

	replay_state.path = path;
	if (f == NULL)
		replay_die(0, "cannot open");
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *s = buf, *end = NULL;
		line++;
		if (strchr(s, '#') != NULL)
			*strchr(s, '#') = '\0';
		end = s + strlen(s);
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			continue;
		replay_state.lines = replay_grow(replay_state.lines, &cap, replay_state.n_lines,
		                                 sizeof(*replay_state.lines));
		replay_state.raw = replay_grow(replay_state.raw, &cap_raw, replay_state.n_lines,
		                               sizeof(*replay_state.raw));
		replay_state.line_no =
		    replay_grow(replay_state.line_no, &cap_no, replay_state.n_lines,
		                sizeof(*replay_state.line_no));
		replay_state.line_no[replay_state.n_lines] = line;
		replay_state.raw[replay_state.n_lines] = strdup(buf);
		replay_state.lines[replay_state.n_lines++] = strdup(s);
	}
	fclose(f);
	for (size_t i = 0; i < replay_state.n_lines; i++) {
		if (strncmp(replay_state.lines[i], "entry ", 6) == 0)
			rps_entry(&i);
		else if (strncmp(replay_state.lines[i], "tsig ", 5) == 0 &&
		         sscanf(replay_state.lines[i], "tsig %255s %63s %255s",
		                replay_state.tsig_name, replay_state.tsig_alg,
		                replay_state.tsig_secret) != 3)
			replay_die(replay_state.line_no[i], "tsig NAME ALGORITHM BASE64");
		else if (strncmp(replay_state.lines[i], "zonekey ", 8) == 0)
			replay_parse_zonekey(replay_state.lines[i], replay_state.line_no[i]);
	}
}

const char *replay_section(const char *name)
{
	size_t len = 0;

	free(replay_state.section);
	replay_state.section = NULL;
	for (size_t i = 0; i < replay_state.n_lines; i++) {
		if (strcmp(replay_state.lines[i], name) != 0)
			continue;
		for (size_t k = i + 1;
		     k < replay_state.n_lines && strcmp(replay_state.lines[k], "end") != 0; k++)
			len += strlen(replay_state.raw[k]) + 1;
		replay_state.section = calloc(1, len + 1);
		for (size_t k = i + 1;
		     k < replay_state.n_lines && strcmp(replay_state.lines[k], "end") != 0; k++) {
			strcat(replay_state.section, replay_state.raw[k]);
			strcat(replay_state.section, "\n");
		}
		break;
	}
	return replay_state.section;
}

const char *const *replay_lines(const char *word, size_t *n)
{
	size_t len = word != NULL ? strlen(word) : 0, cap = 0;

	free(replay_state.picked);
	replay_state.picked = NULL;
	*n = 0;
	for (size_t i = 0; i < replay_state.n_lines; i++) {
		const char *l = replay_state.lines[i];
		/* "entry ..." and a bare word (config) open a block, skipped to its end. */
		if (strncmp(l, "entry ", 6) == 0 || strchr(l, ' ') == NULL) {
			while (i < replay_state.n_lines &&
			       strcmp(replay_state.lines[i], "end") != 0)
				i++;
			continue;
		}
		if (word == NULL || (strncmp(l, word, len) == 0 && l[len] == ' ')) {
			replay_state.picked = replay_grow(replay_state.picked, &cap, *n,
			                                  sizeof(*replay_state.picked));
			replay_state.picked[(*n)++] = l;
		}
	}
	return replay_state.picked;
}
