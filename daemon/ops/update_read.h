/*
 * update_read.h -- how update.c reads an UPDATE reply beyond its rcode, as
 * pure functions of the message bytes so that the fuzz targets and tests
 * can reach them. Nothing but update.c and tests include it.
 *
 * Both take any bytes: a message shorter than the header, cut short or
 * malformed gives false (never a read outside [msg, msg+len)).
 */
#ifndef DCV_UPDATE_READ_H
#define DCV_UPDATE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extended DNS Error 14 "Not Ready" in an OPT record (Knot while it loads a zone). */
bool dcv_update_says_not_ready(const uint8_t *msg, size_t len);

/*
 * An error reply (FORMERR, NOTIMP, REFUSED, NOTAUTH, NOTZONE) that carries
 * no TSIG record at all: one the update may take as final although it is
 * unsigned (see update.h).
 */
bool dcv_update_unsigned_final_error(const uint8_t *msg, size_t len);

#endif
