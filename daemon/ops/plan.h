/*
 * plan.h -- what one request needs under a configuration: the records to
 * publish (placed per the config's placement), the zone of each, and the
 * probe spec that tells when the CA's check would succeed. Shared by
 * `dcv publish|check|withdraw` and the daemon, so both decide alike.
 *
 * Ownership: the plan points into req and cfg (both must outlive it);
 * dcv_plan_free() releases what the plan allocated (NULL-safe inside).
 */
#ifndef DCV_PLAN_H
#define DCV_PLAN_H

#include <stddef.h>

#include "config.h"
#include "dcv/dcv.h"
#include "dcv/place.h"
#include "probe.h"
#include "update.h"

struct dcv_plan {
	struct dcv_place place;
	struct dcv_record *records;    /* one per distinct ADN */
	const struct dcv_zone **zones; /* zone of each record */
	size_t n_records;
	struct dcv_probe_name *probe_names; /* one per certificate name */
	struct dcv_probe_spec spec;
};

/*
 * Places the request's names in cfg's zones and builds the records.
 * Errors: DCV_ENOZONE (why names the name), DCV_ELIMIT (more names than
 * max_names), DCV_ENAME (a record owner too long), DCV_ENOMEM.
 */
int dcv_plan_make(const struct dcv_config *cfg, const struct dcv_request *req, struct dcv_plan *out,
                  struct dcv_why *why);

void dcv_plan_free(struct dcv_plan *plan);

#endif
