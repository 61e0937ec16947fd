/*
 * broker/core/authz.h - who may see and act on a managed job.
 *
 * Identities come from the OS (plat accepted()), never from the client.
 * Rules (DESIGN.md "Security model"):
 *   - a privileged client (administrator, SYSTEM, root) sees every job;
 *   - the owner (the identity that submitted or adopted the job through the
 *     broker: same user SID and same AppContainer SID) sees it;
 *   - a client that is not sandboxed sees every job of its own user SID;
 *   - a sandboxed client sees only jobs it owns in the sense above.
 * An identity with an empty user SID matches nobody. Acting needs the
 * controller role on top of seeing. A caller that may not see a job is
 * told UNKNOWN_JOB, exactly as for a job that does not exist, so job ids of
 * other users cannot be probed (privileged callers see everything anyway).
 */
#ifndef DOB_AUTHZ_H
#define DOB_AUTHZ_H

#include <stdbool.h>

#include "dob/msg.h"

/* Same user SID and same AppContainer SID (NULL and "" are equal). */
bool authz_same_principal(const struct dob_identity *a, const struct dob_identity *b);
bool authz_can_see(const struct dob_identity *who, const struct dob_identity *owner);
/* DOB_STATUS_OK, NOT_CONTROLLER, or UNKNOWN_JOB (may not see it). */
enum dob_status authz_can_act(const struct dob_identity *who, enum dob_role role,
			      const struct dob_identity *owner);
/* AdoptJob replaces the callback of a job the caller may not own: refused
 * for sandboxed callers. */
bool authz_can_adopt(const struct dob_identity *who);
/* Per-session statistics of other clients: privileged callers only. */
bool authz_can_see_sessions(const struct dob_identity *who);

#endif
