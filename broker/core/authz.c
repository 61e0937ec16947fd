/*
 * broker/core/authz.c - the visibility and action rules of authz.h.
 */
#include "authz.h"

#include <stdio.h>
#include <string.h>

static const char *str(const char *s)
{
	return s ? s : "";
}

bool authz_sandboxed(const struct dob_identity *who)
{
	return who->sandboxed || *str(who->appcontainer_sid);
}

/* Privileged counts only outside the sandboxed band: a low-integrity
 * process started from an administrator's token keeps the group, but not
 * the administrator's reach. */
static bool admin(const struct dob_identity *who)
{
	return who->privileged && !authz_sandboxed(who);
}

bool authz_same_principal(const struct dob_identity *a, const struct dob_identity *b)
{
	if (!*str(a->user_sid) || !*str(b->user_sid))
		return false;
	return strcmp(a->user_sid, b->user_sid) == 0 &&
	       strcmp(str(a->appcontainer_sid), str(b->appcontainer_sid)) == 0 &&
	       authz_sandboxed(a) == authz_sandboxed(b);
}

bool authz_can_see(const struct dob_identity *who, const struct dob_identity *owner)
{
	if (admin(who))
		return true;
	if (authz_same_principal(who, owner))
		return true;
	if (authz_sandboxed(who))
		return false;
	return *str(who->user_sid) && strcmp(str(who->user_sid), str(owner->user_sid)) == 0;
}

enum dob_status authz_can_act(const struct dob_identity *who, enum dob_role role,
			      const struct dob_identity *owner)
{
	if (role != DOB_ROLE_CONTROLLER)
		return DOB_STATUS_NOT_CONTROLLER;
	if (!authz_can_see(who, owner))
		return DOB_STATUS_UNKNOWN_JOB;
	return DOB_STATUS_OK;
}

bool authz_can_adopt(const struct dob_identity *who)
{
	return !authz_sandboxed(who);
}

bool authz_can_submit(const struct dob_identity *who, char *const *allow, size_t n, char *why,
		      size_t whylen)
{
	const char *ac = str(who->appcontainer_sid);
	/* What an allow-list entry must equal: the package SID inside an
	 * AppContainer, the user SID for low integrity outside one. */
	const char *key = *ac ? ac : str(who->user_sid);

	if (!authz_sandboxed(who) || who->internet_client)
		return true;
	for (size_t i = 0; *key && i < n; i++)
		if (allow[i] && strcmp(allow[i], key) == 0)
			return true;
	snprintf(why, whylen,
		 "%s may not make the broker download: its token has no internetClient "
		 "capability and the broker's sandboxed-submit-allow list does not name %s",
		 *ac ? "this AppContainer" : "a low-integrity caller", *key ? key : "it");
	return false;
}

bool authz_can_see_sessions(const struct dob_identity *who)
{
	return admin(who);
}
