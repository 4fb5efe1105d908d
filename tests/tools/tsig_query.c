/*
 * tsig_query.c -- sends one SOA query signed with dcvd's TSIG code over UDP
 * and checks the reply's TSIG with dcv_tsig_verify(): the test tool behind
 * tests/integration/tsig_bind.sh, where a real named is the oracle.
 *
 * usage: tsig_query SERVER_ADDR@PORT ZONE KEYFILE [--time-offset S] [--key-name N]
 *
 * KEYFILE is in tsig-keygen's format (key "NAME" { algorithm A; secret "B"; };);
 * only the first key is used. --time-offset shifts our clock (signing and
 * checking) by S seconds; --key-name signs under another name with the same
 * secret. Prints one line "result=CODE rcode=N tsig_error=N skew=N ancount=N"
 * and a "why:" line; exits 0 when the TSIG verified and 1 otherwise. The
 * secret is never printed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "addr.h"
#include "tsig.h"
#include "util.h"
#include "wire.h"

#define KEYFILE_MAX 65536
#define TRIES 3
#define WAIT_MS 2000

static const char *code_name(int rc)
{
	switch (rc) {
	case DCV_OK:
		return "OK";
	case DCV_EREPLY:
		return "EREPLY";
	case DCV_ETSIG:
		return "ETSIG";
	case DCV_EBADSIG:
		return "EBADSIG";
	case DCV_EBADKEY:
		return "EBADKEY";
	case DCV_EBADTIME:
		return "EBADTIME";
	case DCV_ETIMEOUT:
		return "ETIMEOUT";
	case DCV_ENET:
		return "ENET";
	case DCV_EKEY:
		return "EKEY";
	default:
		return "OTHER";
	}
}

/*
 * Next token of a tsig-keygen file: a quoted string (quotes dropped), a
 * word, or one of "{};". Comments are not expected there. Returns false at
 * the end.
 */
static bool next_token(char **pos, char *tok, size_t cap)
{
	char *p = *pos;
	size_t n = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '\0')
		return false;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (n + 1 < cap)
				tok[n++] = *p;
		if (*p == '"')
			p++;
	} else if (strchr("{};", *p) != NULL) {
		tok[n++] = *p++;
	} else {
		for (; *p && strchr(" \t\r\n{};\"", *p) == NULL; p++)
			if (n + 1 < cap)
				tok[n++] = *p;
	}
	tok[n] = '\0';
	*pos = p;
	return true;
}

/* Reads the first key of a tsig-keygen file into key (name_override if given). */
static int load_key(const char *path, const char *name_override, struct dcv_tsig_key *key,
                    struct dcv_why *why)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	/* All as large as a token: a name too long is refused by dcv_tsig_key_set(). */
	char tok[DCV_TSIG_SECRET_MAX * 2], *pos = NULL;
	char name[sizeof(tok)] = "", alg_text[sizeof(tok)] = "", secret[sizeof(tok)] = "";
	enum dcv_tsig_alg alg = DCV_HMAC_SHA256;
	int rc = dcv_read_file(path, KEYFILE_MAX, &buf, &len, why);

	if (rc < 0)
		goto out;
	pos = (char *)buf;
	while (next_token(&pos, tok, sizeof(tok))) {
		if (strcmp(tok, "key") == 0 && name[0] == '\0' &&
		    next_token(&pos, tok, sizeof(tok)))
			snprintf(name, sizeof(name), "%s", tok);
		else if (strcmp(tok, "algorithm") == 0 && next_token(&pos, tok, sizeof(tok)))
			snprintf(alg_text, sizeof(alg_text), "%s", tok);
		else if (strcmp(tok, "secret") == 0 && next_token(&pos, tok, sizeof(tok)))
			snprintf(secret, sizeof(secret), "%s", tok);
		if (name[0] && alg_text[0] && secret[0])
			break;
	}
	rc = DCV_EKEY;
	if (!name[0] || !alg_text[0] || !secret[0]) {
		dcv_why_set(why, "%s: no key with an algorithm and a secret", path);
		goto out;
	}
	if (dcv_tsig_alg_parse(alg_text, &alg) < 0) {
		dcv_why_set(why, "%s: key '%s': unknown algorithm '%s'", path, name, alg_text);
		goto out;
	}
	rc = dcv_tsig_key_set(key, name_override ? name_override : name, alg, secret, why);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(tok, sizeof(tok));
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* Sends the query and waits for a reply with its ID and question, retrying a few times. */
static int exchange(const struct dcv_addr *server, const uint8_t *query, size_t query_len,
                    uint8_t *reply, size_t cap, size_t *reply_len, struct dcv_why *why)
{
	int fd = socket(server->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = DCV_ENET;

	if (fd < 0 || connect(fd, (const struct sockaddr *)&server->ss, server->len) < 0) {
		dcv_why_set(why, "%s: %s", server->text, strerror(errno));
		goto out;
	}
	for (int try = 0; try < TRIES; try++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (send(fd, query, query_len, 0) < 0) {
			dcv_why_set(why, "%s: send: %s", server->text, strerror(errno));
			goto out;
		}
		while (poll(&pfd, 1, WAIT_MS) > 0) {
			ssize_t n = recv(fd, reply, cap, 0);
			if (n < 0) {
				dcv_why_set(why, "%s: recv: %s", server->text, strerror(errno));
				goto out;
			}
			/* connect() filters the source; ID and question match it to the query. */
			if (n >= DCV_WIRE_HEADER && DCV_WIRE_QR(reply) &&
			    DCV_WIRE_ID(reply) == DCV_WIRE_ID(query) &&
			    dcv_wire_same_question(query, query_len, reply, (size_t)n)) {
				*reply_len = (size_t)n;
				rc = DCV_OK;
				goto out;
			}
		}
	}
	rc = DCV_ETIMEOUT;
	dcv_why_set(why, "%s: no reply after %d tries", server->text, TRIES);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct dcv_why why = {""};
	struct dcv_addr server;
	struct dcv_tsig_key key;
	struct dcv_tsig_ctx ctx;
	struct dcv_tsig_result res = {0};
	uint8_t query[1024], reply[65536];
	size_t query_len = 0, reply_len = 0, zone_len = 0;
	const char *name_override = NULL;
	long long offset = 0;
	uint64_t now = 0;
	int rc = DCV_EINVAL;

	memset(&key, 0, sizeof(key));
	for (int i = 4; i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--time-offset") == 0 && i + 1 < argc) {
			offset = strtoll(argv[++i], &end, 10);
			if (*end != '\0')
				argc = 0;
		} else if (strcmp(argv[i], "--key-name") == 0 && i + 1 < argc) {
			name_override = argv[++i];
		} else {
			argc = 0;
		}
	}
	if (argc < 4) {
		fprintf(stderr, "usage: tsig_query SERVER_ADDR@PORT ZONE KEYFILE "
		                "[--time-offset S] [--key-name N]\n");
		return 2;
	}
	if ((rc = dcv_addr_parse(argv[1], &server, &why)) < 0 ||
	    (rc = load_key(argv[3], name_override, &key, &why)) < 0)
		goto out;

	/* ZONE. SOA IN, no recursion wanted. */
	memset(query, 0, DCV_WIRE_HEADER);
	if (RAND_bytes(query, 2) != 1 ||
	    dcv_wire_from_text(argv[2], query + DCV_WIRE_HEADER, &zone_len) < 0) {
		rc = DCV_EINVAL;
		dcv_why_set(&why, "zone '%s' is not a domain name", argv[2]);
		goto out;
	}
	dcv_wire_put16(query + 4, 1);
	query_len = DCV_WIRE_HEADER + zone_len;
	dcv_wire_put16(query + query_len, 6);
	dcv_wire_put16(query + query_len + 2, 1);
	query_len += 4;

	now = (uint64_t)((long long)time(NULL) + offset);
	if ((rc = dcv_tsig_sign(&key, query, &query_len, sizeof(query), now, &ctx, &why)) < 0 ||
	    (rc = exchange(&server, query, query_len, reply, sizeof(reply), &reply_len, &why)) < 0)
		goto out;
	now = (uint64_t)((long long)time(NULL) + offset);
	rc = dcv_tsig_verify(&ctx, reply, reply_len, now, &res, &why);
out:
	printf("result=%s rcode=%d tsig_error=%u skew=%lld ancount=%d\n", code_name(rc),
	       reply_len >= DCV_WIRE_HEADER ? DCV_WIRE_RCODE(reply) : -1, res.error,
	       (long long)res.skew, reply_len >= DCV_WIRE_HEADER ? DCV_WIRE_ANCOUNT(reply) : -1);
	printf("why: %s (%s)\n", why.text[0] ? why.text : "TSIG verified", dcv_strerror(rc));
	dcv_tsig_key_clear(&key);
	return rc == DCV_OK ? 0 : 1;
}
