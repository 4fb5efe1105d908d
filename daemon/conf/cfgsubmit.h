/*
 * cfgsubmit.h -- internal to the configuration loader: a zone's
 * submitters: list, resolved to uids (cfgsubmit.c). Not an API: only
 * cfgpeers.c, which reads the zone list, includes it.
 */
#ifndef DCV_CFGSUBMIT_H
#define DCV_CFGSUBMIT_H

#include "cfgload.h"

/*
 * Reads node (the value of a zone's submitters: key; a list, a single
 * entry or nothing) into z->submitters, sorted and without duplicates, and
 * sets z->restricted. what names the zone in messages ("zone 'Z'"). Each
 * bad entry is reported at its position and left out; the only failure is
 * DCV_ENOMEM. Looks users and groups up (getpwnam, getgrnam, getpwent),
 * which may block: only the loader calls it (at start and at SIGHUP), never
 * per job, and never from two threads at once (getpwent keeps one cursor
 * per process).
 */
int cfg_submitters(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                   struct dcv_zone *z);

#endif
