/* plan.c -- from a request and a configuration to records and a probe spec. */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

int dcv_plan_make(const struct dcv_config *cfg, const struct dcv_request *req, struct dcv_plan *out,
                  struct dcv_why *why)
{
	struct dcv_plan plan;
	int rc = DCV_ELIMIT;

	memset(&plan, 0, sizeof(plan));
	memset(out, 0, sizeof(*out));
	if (req->n_names > cfg->max_names) {
		dcv_why_set(why, "%zu names, more than max_names (%llu)", req->n_names,
		            (unsigned long long)cfg->max_names);
		goto out;
	}
	rc = dcv_place(req, cfg->zone_names, cfg->n_zones, cfg->placement, &plan.place, why);
	if (rc < 0)
		goto out;
	rc = DCV_ENOMEM;
	plan.records = calloc(plan.place.n_owners, sizeof(*plan.records));
	plan.zones = calloc(plan.place.n_owners, sizeof(*plan.zones));
	plan.probe_names = calloc(req->n_names, sizeof(*plan.probe_names));
	if (plan.records == NULL || plan.zones == NULL || plan.probe_names == NULL)
		goto out;
	for (size_t i = 0; i < plan.place.n_owners; i++) {
		struct dcv_record *rec = &plan.records[i];
		rc = dcv_record_owner(req, plan.place.owners[i].adn, rec->owner, sizeof(rec->owner),
		                      why);
		if (rc < 0)
			goto out;
		snprintf(rec->target, sizeof(rec->target), "%s", req->target);
		rec->ttl = cfg->ttl;
		plan.zones[i] = &cfg->zones[plan.place.owners[i].zone];
	}
	plan.n_records = plan.place.n_owners;
	for (size_t n = 0; n < req->n_names; n++) {
		const struct dcv_name_entry *e = &req->names[n];
		const char *adn = plan.place.owners[plan.place.name_owner[n]].adn;
		struct dcv_probe_name *pn = &plan.probe_names[n];

		pn->name = e->name;
		pn->candidates = e->candidates;
		pn->n_candidates = e->n_candidates;
		/* The ADN is always one of the name's candidates: placement chose it there. */
		for (size_t c = 0; c < e->n_candidates; c++)
			if (strcmp(e->candidates[c], adn) == 0)
				pn->adn = c;
	}
	plan.spec.md5_hex = req->csr->md5_hex;
	plan.spec.target = req->target;
	plan.spec.names = plan.probe_names;
	plan.spec.n_names = req->n_names;
	*out = plan;
	memset(&plan, 0, sizeof(plan));
	rc = DCV_OK;
out:
	dcv_plan_free(&plan);
	return rc;
}

void dcv_plan_free(struct dcv_plan *plan)
{
	dcv_place_free(&plan->place);
	free(plan->records);
	free(plan->zones);
	free(plan->probe_names);
	memset(plan, 0, sizeof(*plan));
}
