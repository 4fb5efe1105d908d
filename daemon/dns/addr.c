/* addr.c -- "IP@PORT" addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "yin.h"

void dcv_addr_from_sockaddr(const struct sockaddr *sa, struct dcv_addr *out)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(&out->ss, in, sizeof(*in));
		out->len = sizeof(*in);
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(&out->ss, in6, sizeof(*in6));
		out->len = sizeof(*in6);
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out->text, sizeof(out->text), "%s@%u", ip, port);
}

int dcv_addr_parse(const char *s, struct dcv_addr *out, struct dcv_why *why)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);
	unsigned long port = 53;
	char *end = NULL;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	char quoted[72];

	if (n == 0 || n >= sizeof(ip))
		goto bad;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (at != NULL) {
		if (at[1] < '0' || at[1] > '9')
			goto bad;
		port = strtoul(at + 1, &end, 10);
		if (*end != '\0' || port == 0 || port > 65535)
			goto bad;
	}
	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, ip, &in.sin_addr) == 1) {
		in.sin_family = AF_INET;
		in.sin_port = htons((unsigned short)port);
		dcv_addr_from_sockaddr((struct sockaddr *)&in, out);
		return DCV_OK;
	}
	if (inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1) {
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons((unsigned short)port);
		dcv_addr_from_sockaddr((struct sockaddr *)&in6, out);
		return DCV_OK;
	}
bad:
	/* s comes from a file: shown cut, odd bytes as '?', so that it cannot break the line. */
	dcv_yin_quote(s, 64, quoted, sizeof(quoted));
	dcv_why_set(why,
	            "'%s' is not an address: write IP or IP@PORT (e.g. 192.0.2.1@53, "
	            "2001:db8::1@53)",
	            quoted);
	return DCV_EINVAL;
}

bool dcv_addr_equal(const struct dcv_addr *a, const struct sockaddr *sa)
{
	if (a->ss.ss_family != sa->sa_family)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)sa;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)sa;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}
