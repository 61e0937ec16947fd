/*
 * broker/core/authz.c - the visibility and action rules of authz.h.
 */
#include "authz.h"

#include <string.h>

static const char *str(const char *s)
{
	return s ? s : "";
}

bool authz_same_principal(const struct dob_identity *a, const struct dob_identity *b)
{
	if (!*str(a->user_sid) || !*str(b->user_sid))
		return false;
	return strcmp(a->user_sid, b->user_sid) == 0 &&
	       strcmp(str(a->appcontainer_sid), str(b->appcontainer_sid)) == 0;
}

bool authz_can_see(const struct dob_identity *who, const struct dob_identity *owner)
{
	if (who->privileged)
		return true;
	if (authz_same_principal(who, owner))
		return true;
	if (who->sandboxed)
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
	return who->privileged || !who->sandboxed;
}

bool authz_can_see_sessions(const struct dob_identity *who)
{
	return who->privileged;
}
