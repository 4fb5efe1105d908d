/* place.c -- choose the ADN and zone of every name's record. */
#include <stdlib.h>
#include <string.h>

#include "dcv/names.h"
#include "dcv/place.h"

long dcv_zone_of(const char *name, const char *const *zones, size_t n_zones)
{
	long best = -1;
	size_t best_len = 0;

	for (size_t z = 0; z < n_zones; z++) {
		size_t len = strlen(zones[z]);
		if ((best < 0 || len > best_len) && dcv_name_in_zone(name, zones[z])) {
			best = (long)z;
			best_len = len;
		}
	}
	return best;
}

/* Finds or appends the owner adn; returns its index or a negative code. */
static long owner_index(struct dcv_place *p, const char *adn, size_t zone)
{
	char *copy = NULL;

	for (size_t i = 0; i < p->n_owners; i++)
		if (strcmp(p->owners[i].adn, adn) == 0)
			return (long)i;
	copy = strdup(adn);
	if (copy == NULL)
		return DCV_ENOMEM;
	p->owners[p->n_owners].adn = copy;
	p->owners[p->n_owners].zone = zone;
	return (long)p->n_owners++;
}

int dcv_place(const struct dcv_request *req, const char *const *zones, size_t n_zones,
              enum dcv_placement mode, struct dcv_place *out, struct dcv_why *why)
{
	struct dcv_place p = {0};
	int rc = DCV_ENOMEM;

	memset(out, 0, sizeof(*out));
	p.name_owner = calloc(req->n_names + 1, sizeof(*p.name_owner));
	p.owners = calloc(req->n_names + 1, sizeof(*p.owners));
	if (p.name_owner == NULL || p.owners == NULL)
		goto out;
	p.n_names = req->n_names;
	for (size_t i = 0; i < req->n_names; i++) {
		const struct dcv_name_entry *e = &req->names[i];
		const char *adn = NULL;
		long zone = -1, idx = 0;

		if (mode == DCV_PLACE_FQDN) {
			adn = e->base;
			zone = dcv_zone_of(adn, zones, n_zones);
		} else {
			/* Candidates run from longest to shortest: keep the last one in a zone. */
			for (size_t c = 0; c < e->n_candidates; c++) {
				long z = dcv_zone_of(e->candidates[c], zones, n_zones);
				if (z >= 0) {
					adn = e->candidates[c];
					zone = z;
				}
			}
		}
		if (zone < 0) {
			rc = DCV_ENOZONE;
			dcv_why_set(why, "name '%s' lies in no configured zone", e->name);
			goto out;
		}
		idx = owner_index(&p, adn, (size_t)zone);
		if (idx < 0) {
			rc = (int)idx;
			goto out;
		}
		p.name_owner[i] = (size_t)idx;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	rc = DCV_OK;
out:
	dcv_place_free(&p);
	return rc;
}

void dcv_place_free(struct dcv_place *p)
{
	for (size_t i = 0; i < p->n_owners; i++)
		free(p->owners[i].adn);
	free(p->owners);
	free(p->name_owner);
	memset(p, 0, sizeof(*p));
}
