/* wire.c -- bounds-checked DNS wire reading. */
#include <stdio.h>
#include <string.h>

#include "wire.h"

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

int dcv_wire_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t out[DCV_WIRE_NAME_MAX],
                       size_t *out_len)
{
	size_t pos = *off, n = 0, after = 0;
	bool jumped = false;

	for (;;) {
		if (pos >= len)
			return DCV_EREPLY;
		uint8_t c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return DCV_EREPLY;
			size_t target = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			/* Only backwards: this is what keeps a hostile message from looping. */
			if (target >= pos)
				return DCV_EREPLY;
			if (!jumped)
				after = pos + 2;
			jumped = true;
			pos = target;
			continue;
		}
		if ((c & 0xc0) != 0)
			return DCV_EREPLY;
		if (pos + 1 + c > len || n + 1 + c > DCV_WIRE_NAME_MAX)
			return DCV_EREPLY;
		if (out != NULL) {
			out[n] = c;
			for (size_t i = 0; i < c; i++)
				out[n + 1 + i] = lower(msg[pos + 1 + i]);
		}
		n += 1 + (size_t)c;
		pos += 1 + (size_t)c;
		if (c == 0)
			break;
	}
	*off = jumped ? after : pos;
	if (out_len != NULL)
		*out_len = n;
	return DCV_OK;
}

int dcv_wire_skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	return dcv_wire_read_name(msg, len, off, NULL, NULL);
}

int dcv_wire_read_rr(const uint8_t *msg, size_t len, size_t *off, struct dcv_wire_rr *rr)
{
	size_t pos = *off;
	int rc = dcv_wire_skip_name(msg, len, &pos);

	if (rc < 0)
		return rc;
	if (pos + 10 > len)
		return DCV_EREPLY;
	rr->start = *off;
	rr->type = dcv_wire_u16(msg + pos);
	rr->class = dcv_wire_u16(msg + pos + 2);
	rr->ttl = dcv_wire_u32(msg + pos + 4);
	rr->rdlength = dcv_wire_u16(msg + pos + 8);
	rr->rdata = pos + 10;
	if (rr->rdata + rr->rdlength > len)
		return DCV_EREPLY;
	rr->end = rr->rdata + rr->rdlength;
	*off = rr->end;
	return DCV_OK;
}

int dcv_wire_after_question(const uint8_t *msg, size_t len, size_t *off)
{
	size_t pos = DCV_WIRE_HEADER;

	if (len < DCV_WIRE_HEADER)
		return DCV_EREPLY;
	for (unsigned q = DCV_WIRE_QDCOUNT(msg); q > 0; q--) {
		if (dcv_wire_skip_name(msg, len, &pos) < 0 || pos + 4 > len)
			return DCV_EREPLY;
		pos += 4;
	}
	*off = pos;
	return DCV_OK;
}

bool dcv_wire_same_question(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t na[DCV_WIRE_NAME_MAX], nb[DCV_WIRE_NAME_MAX];
	size_t pa = DCV_WIRE_HEADER, pb = DCV_WIRE_HEADER, la = 0, lb = 0;

	if (a_len < DCV_WIRE_HEADER || b_len < DCV_WIRE_HEADER ||
	    DCV_WIRE_QDCOUNT(a) != DCV_WIRE_QDCOUNT(b))
		return false;
	for (unsigned q = DCV_WIRE_QDCOUNT(a); q > 0; q--) {
		if (dcv_wire_read_name(a, a_len, &pa, na, &la) < 0 ||
		    dcv_wire_read_name(b, b_len, &pb, nb, &lb) < 0 || pa + 4 > a_len ||
		    pb + 4 > b_len || la != lb || memcmp(na, nb, la) != 0 ||
		    memcmp(a + pa, b + pb, 4) != 0)
			return false;
		pa += 4;
		pb += 4;
	}
	return true;
}

int dcv_wire_from_text(const char *text, uint8_t out[DCV_WIRE_NAME_MAX], size_t *out_len)
{
	size_t n = 0, tlen = strlen(text);
	const char *p = text;

	if (tlen > 0 && text[tlen - 1] == '.')
		tlen--;
	while ((size_t)(p - text) < tlen) {
		const char *dot = memchr(p, '.', tlen - (size_t)(p - text));
		size_t l = dot ? (size_t)(dot - p) : tlen - (size_t)(p - text);
		if (l == 0 || l > 63 || n + 1 + l + 1 > DCV_WIRE_NAME_MAX)
			return DCV_EINVAL;
		out[n++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++)
			out[n++] = lower((uint8_t)p[i]);
		p += l + (dot ? 1 : 0);
	}
	out[n++] = 0;
	*out_len = n;
	return DCV_OK;
}

int dcv_wire_to_text(const uint8_t *wire, size_t wire_len, char out[DCV_WIRE_TEXT_MAX])
{
	size_t pos = 0, n = 0;

	if (wire_len > DCV_WIRE_NAME_MAX)
		return DCV_EINVAL;
	for (;;) {
		if (pos >= wire_len)
			return DCV_EINVAL;
		size_t l = wire[pos++];
		if (l == 0)
			break;
		if (l > 63 || pos + l > wire_len)
			return DCV_EINVAL;
		if (n > 0)
			out[n++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = wire[pos + i];
			/* 4 bytes per octet at most: 255 octets fit in DCV_WIRE_TEXT_MAX. */
			if (c <= ' ' || c >= 0x7f || c == '.' || c == '\\')
				n += (size_t)snprintf(out + n, 5, "\\%03u", c);
			else
				out[n++] = (char)c;
		}
		pos += l;
	}
	if (pos != wire_len)
		return DCV_EINVAL;
	if (n == 0)
		out[n++] = '.';
	out[n] = '\0';
	return DCV_OK;
}
