/*
 * addr.h -- server addresses as written in the configuration: "IP@PORT"
 * (knot.conf style) or "IP" for port 53; IPv4 or IPv6 ("2001:db8::1@53").
 */
#ifndef DCV_ADDR_H
#define DCV_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "dcv/err.h"

struct dcv_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64]; /* canonical "IP@PORT", for every message that names a server */
};

/* Parses "IP", "IP@PORT". DCV_EINVAL with why on anything else. */
int dcv_addr_parse(const char *s, struct dcv_addr *out, struct dcv_why *why);

/* Builds from a socket address (text filled in). */
void dcv_addr_from_sockaddr(const struct sockaddr *sa, struct dcv_addr *out);

/* Same family, address and port. */
bool dcv_addr_equal(const struct dcv_addr *a, const struct sockaddr *sa);

#endif
