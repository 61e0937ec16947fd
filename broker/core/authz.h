/*
 * broker/core/authz.h - who may see, act on, submit and adopt managed jobs.
 *
 * Identities come from the OS (plat accepted()), never from the client.
 * The principal (docs/security.md, "Principals") is
 *     user SID + AppContainer SID + integrity band
 * where the band is "sandboxed" (AppContainer, low or untrusted integrity:
 * dob_identity.sandboxed as the platform computed it) or "full" (medium and
 * above, no AppContainer). Rules:
 *   - a privileged client (administrator, SYSTEM, root; not sandboxed) sees
 *     every job;
 *   - the owner principal (the one that submitted or adopted the job through
 *     the broker) sees it;
 *   - a client that is not sandboxed sees every job of its own user SID,
 *     including those of the user's sandboxed principals;
 *   - a sandboxed client sees only jobs its own principal owns: a low-
 *     integrity process outside an AppContainer is not its user's medium
 *     processes, and two AppContainers of one user are two principals;
 *   - limits (connections, jobs) count per principal.
 * An identity with an empty user SID matches nobody. Acting needs the
 * controller role on top of seeing. A caller that may not see a job is
 * told UNKNOWN_JOB, exactly as for a job that does not exist, so job ids of
 * other users cannot be probed (privileged callers see everything anyway).
 */
#ifndef DOB_AUTHZ_H
#define DOB_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "dob/msg.h"

/* Sandboxed band: the platform's sandboxed flag, or an AppContainer SID. */
bool authz_sandboxed(const struct dob_identity *who);
/* Same user SID, same AppContainer SID (NULL and "" are equal) and same
 * integrity band. */
bool authz_same_principal(const struct dob_identity *a, const struct dob_identity *b);
bool authz_can_see(const struct dob_identity *who, const struct dob_identity *owner);
/* DOB_STATUS_OK, NOT_CONTROLLER, or UNKNOWN_JOB (may not see it). */
enum dob_status authz_can_act(const struct dob_identity *who, enum dob_role role,
			      const struct dob_identity *owner);
/* AdoptJob replaces the callback of a job the caller may not own: refused
 * for sandboxed callers. */
bool authz_can_adopt(const struct dob_identity *who);
/* May `who` have the broker download for it? Callers that are not sandboxed
 * may. A sandboxed caller may only when its token carries the internet
 * client capability (dob_identity.internet_client), or when `allow` (n
 * entries, configuration: --sandboxed-submit-allow) names its AppContainer
 * SID, or -- for a low-integrity caller outside an AppContainer, which has
 * no capabilities -- its user SID. Otherwise false, with the reason in why. */
bool authz_can_submit(const struct dob_identity *who, char *const *allow, size_t n, char *why,
		      size_t whylen);
/* Per-session statistics of other clients: privileged callers only. */
bool authz_can_see_sessions(const struct dob_identity *who);

#endif
