/*
 * place.h -- where the records of one request go.
 *
 * Pure. Given a request and the zones dcvd may update, decide for every
 * name the ADN that will carry the record, and the zone that holds it:
 *
 *   DCV_PLACE_ZONE  the shortest ADN candidate that lies inside a configured
 *                   zone: `example.com, www.example.com, *.example.com` need
 *                   one record, at _md5.example.com.
 *   DCV_PLACE_FQDN  the name itself (wildcard removed), in the longest
 *                   configured zone that contains it.
 *
 * The CA walks the candidates from the longest and takes the first record
 * it finds; one record at an ADN covers every name at or below it.
 * Ownership: dcv_place_free() releases a result (NULL-safe inside).
 */
#ifndef DCV_PLACE_H
#define DCV_PLACE_H

#include <stddef.h>

#include "dcv/dcv.h"
#include "dcv/err.h"

enum dcv_placement {
	DCV_PLACE_ZONE = 0,
	DCV_PLACE_FQDN = 1,
};

struct dcv_place_owner {
	char *adn;   /* where the record goes */
	size_t zone; /* index into the zones handed in */
};

struct dcv_place {
	size_t *name_owner; /* per request name: index into owners */
	size_t n_names;
	struct dcv_place_owner *owners; /* distinct, in certificate order */
	size_t n_owners;
};

/*
 * zones: normalized zone apexes (lower case, no trailing dot).
 * Errors: DCV_ENOZONE naming the first name that lies in no zone;
 * DCV_ENOMEM. On error *out is left empty.
 */
int dcv_place(const struct dcv_request *req, const char *const *zones, size_t n_zones,
              enum dcv_placement mode, struct dcv_place *out, struct dcv_why *why);

/* The longest zone containing name, as an index, or -1. */
long dcv_zone_of(const char *name, const char *const *zones, size_t n_zones);

void dcv_place_free(struct dcv_place *p);

#endif
