/*
 * broker/posix/ident_posix.c - who is on the other end of a Unix socket.
 *
 * The OS's word only: SO_PEERCRED gives the pid and uid the peer had when it
 * connected. Mapped onto the Windows-shaped identity the core uses:
 *   user_sid "uid:<n>", appcontainer_sid "", integrity_rid 0,
 *   sandboxed false, privileged = (uid == 0).
 *
 * Test listeners (plat_listen_opts.test_listeners) give their connections a
 * fixed identity instead, so tests can play other users and sandboxed
 * callers without being them; the pid still comes from SO_PEERCRED. Spec:
 *   PATH=key:value,key:value
 *   uid:N            decimal uid (default: the peer's real uid)
 *   sid:S            user SID (default "uid:<uid>")
 *   appcontainer:S   AppContainer SID (default none)
 *   integrity:N      integrity RID, decimal or 0x hex (default 0)
 *   sandboxed:0|1    (default 1 if an appcontainer is given or the integrity
 *                    is given and below medium, 0x2000, as on Windows; else 0)
 *   privileged:0|1   (default: uid 0 and not sandboxed)
 *   internet:0|1     the internetClient capability (default 0)
 * PATH is everything before the last '='; SIDs are printable ASCII without
 * ','. Each key at most once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "posix.h"

struct ident_override {
	bool has_uid;
	uint32_t uid;
	char *sid;          /* owned; NULL: "uid:<uid>" */
	char *appcontainer; /* owned; NULL: not in one */
	bool has_integrity;
	uint32_t integrity;
	int sandboxed;      /* 0, 1, or -1: derived */
	int privileged;     /* 0, 1, or -1: derived */
	int internet;       /* 0, 1, or -1: not given (0) */
};

void ident_override_free(struct ident_override *ov)
{
	if (!ov)
		return;
	dob_free(ov->sid);
	dob_free(ov->appcontainer);
	dob_free(ov);
}

static bool parse_u32(const char *s, size_t n, int base, uint32_t *out)
{
	char tmp[24];
	char *end;
	unsigned long long v;

	if (n == 0 || n >= sizeof tmp || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtoull(tmp, &end, base);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool sid_chars_ok(const char *s, size_t n)
{
	if (n == 0 || n > DOB_MAX_TEXT)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	}
	return true;
}

/* One key:value of length n at s into ov; a message in why on error. */
static int parse_pair(struct ident_override *ov, const char *s, size_t n, char *why,
		      size_t whylen)
{
	const char *colon = memchr(s, ':', n);
	size_t klen, vlen;
	const char *v;

	if (!colon) {
		snprintf(why, whylen, "'%.*s' is not key:value", (int)(n > 64 ? 64 : n), s);
		return -DOB_EINVAL;
	}
	klen = (size_t)(colon - s);
	v = colon + 1;
	vlen = n - klen - 1;
#define KEY(name) (klen == sizeof(name) - 1 && memcmp(s, name, klen) == 0)
	if (KEY("uid")) {
		if (ov->has_uid)
			goto dup;
		if (!parse_u32(v, vlen, 10, &ov->uid) || ov->uid == UINT32_MAX)
			goto badval;
		ov->has_uid = true;
	} else if (KEY("integrity")) {
		if (ov->has_integrity)
			goto dup;
		if (!parse_u32(v, vlen, 0, &ov->integrity))
			goto badval;
		ov->has_integrity = true;
	} else if (KEY("sid") || KEY("appcontainer")) {
		char **dst = KEY("sid") ? &ov->sid : &ov->appcontainer;

		if (*dst)
			goto dup;
		if (!sid_chars_ok(v, vlen))
			goto badval;
		*dst = dob_strndup(v, vlen);
		if (!*dst)
			return -DOB_ENOMEM;
	} else if (KEY("sandboxed") || KEY("privileged") || KEY("internet")) {
		int *dst = KEY("sandboxed") ? &ov->sandboxed
			   : KEY("privileged") ? &ov->privileged : &ov->internet;

		if (*dst >= 0)
			goto dup;
		if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
			goto badval;
		*dst = v[0] - '0';
	} else {
		snprintf(why, whylen,
			 "unknown key '%.*s' (keys: uid sid appcontainer integrity sandboxed privileged internet)",
			 (int)(klen > 64 ? 64 : klen), s);
		return -DOB_EINVAL;
	}
#undef KEY
	return 0;
dup:
	snprintf(why, whylen, "key '%.*s' given twice", (int)klen, s);
	return -DOB_EINVAL;
badval:
	snprintf(why, whylen, "bad value '%.*s' for key '%.*s'", (int)(vlen > 64 ? 64 : vlen), v,
		 (int)klen, s);
	return -DOB_EINVAL;
}

int ident_parse_spec(const char *spec, char **path, struct ident_override **out, char *errbuf,
		     size_t errlen)
{
	struct ident_override *ov = NULL;
	char why[256] = "";
	const char *eq, *p;
	int err;

	*path = NULL;
	*out = NULL;
	if (!spec) {
		snprintf(errbuf, errlen, "test listener spec is NULL");
		return -DOB_EINVAL;
	}
	eq = strrchr(spec, '=');
	if (!eq || eq == spec) {
		snprintf(why, sizeof why, "expected PATH=key:value,...");
		err = -DOB_EINVAL;
		goto fail;
	}
	ov = dob_calloc(1, sizeof *ov);
	if (!ov) {
		err = -DOB_ENOMEM;
		goto fail;
	}
	ov->sandboxed = ov->privileged = ov->internet = -1;
	for (p = eq + 1; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		err = parse_pair(ov, p, n, why, sizeof why);
		if (err)
			goto fail;
		p += n;
		if (comma) {
			p++;
			if (!*p) {
				snprintf(why, sizeof why, "trailing ','");
				err = -DOB_EINVAL;
				goto fail;
			}
		}
	}
	*path = dob_strndup(spec, (size_t)(eq - spec));
	if (!*path) {
		err = -DOB_ENOMEM;
		goto fail;
	}
	*out = ov;
	return 0;
fail:
	if (err == -DOB_ENOMEM)
		snprintf(why, sizeof why, "out of memory");
	snprintf(errbuf, errlen, "bad test listener spec '%.200s': %s", spec, why);
	ident_override_free(ov);
	return err;
}

int ident_of_peer(int fd, const struct ident_override *ov, struct dob_identity *id,
		  struct ident_buf *b)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	memset(id, 0, sizeof *id);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return posix_err(errno);
	b->empty[0] = '\0';
	id->pid = (uint32_t)cred.pid;
	id->uid = (ov && ov->has_uid) ? ov->uid : (uint32_t)cred.uid;
	if (ov && ov->sid) {
		id->user_sid = ov->sid;
	} else {
		snprintf(b->sid, sizeof b->sid, "uid:%u", (unsigned)id->uid);
		id->user_sid = b->sid;
	}
	id->appcontainer_sid = (ov && ov->appcontainer) ? ov->appcontainer : b->empty;
	id->integrity_rid = (ov && ov->has_integrity) ? ov->integrity : 0;
	if (ov && ov->sandboxed >= 0)
		id->sandboxed = ov->sandboxed == 1;
	else
		id->sandboxed = id->appcontainer_sid[0] != '\0' ||
				(ov && ov->has_integrity && ov->integrity < 0x2000);
	id->internet_client = ov && ov->internet == 1;
	if (ov && ov->privileged >= 0)
		id->privileged = ov->privileged == 1;
	else
		id->privileged = id->uid == 0 && !id->sandboxed;
	return 0;
}
