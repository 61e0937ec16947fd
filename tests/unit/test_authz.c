/*
 * tests/unit/test_authz.c - the trust model of docs/security.md, cell by
 * cell: who sees and acts on which job (every principal kind against every
 * owner kind), who may adopt, submit (internet capability, allow-list) and
 * read other sessions' statistics, limits per principal, adopt failing
 * closed, and the URL and path forms refused whoever asks.
 *
 * Principal = user SID + AppContainer SID + integrity band (sandboxed: an
 * AppContainer or below medium integrity; full: medium and above).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "broker_harness.h"
#include "config.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "dob/trust.h"
#include "fake_plat.h"

/* ---------------------------------------------------------------- principals */

enum pk { P_MED, P_HIGH, P_LOW, P_AC1, P_AC2, P_OTHER, P_ADMIN, P_LOW_ADMIN, NPK };

static const char *const pk_name[NPK] = {
	"user (medium)", "same user (high, not admin)", "same user (low, no AppContainer)",
	"AppContainer 1 (internetClient)", "AppContainer 2 (no capability)", "another user",
	"administrator", "administrator's low-integrity process",
};

#define USER "S-1-5-21-9-1000"
#define OTHER "S-1-5-21-9-2000"
#define ADMINSID "S-1-5-21-9-500"
#define AC1 "S-1-15-2-11"
#define AC2 "S-1-15-2-22"

static struct dob_identity principal(enum pk k)
{
	struct dob_identity id;

	memset(&id, 0, sizeof(id));
	id.pid = 1100 + (uint32_t)k;
	id.uid = 1000;
	id.user_sid = (char *)USER;
	id.integrity_rid = 0x2000;
	switch (k) {
	case P_MED:
		break;
	case P_HIGH:
		id.integrity_rid = 0x3000;
		break;
	case P_LOW:
		id.integrity_rid = 0x1000;
		id.sandboxed = true;
		break;
	case P_AC1:
	case P_AC2:
		id.integrity_rid = 0x1000;
		id.sandboxed = true;
		id.appcontainer_sid = (char *)(k == P_AC1 ? AC1 : AC2);
		id.internet_client = k == P_AC1;
		break;
	case P_OTHER:
		id.uid = 2000;
		id.user_sid = (char *)OTHER;
		break;
	case P_ADMIN:
	case P_LOW_ADMIN:
		id.uid = 500;
		id.user_sid = (char *)ADMINSID;
		id.privileged = true;
		id.integrity_rid = k == P_ADMIN ? 0x3000 : 0x1000;
		id.sandboxed = k == P_LOW_ADMIN;
		break;
	case NPK:
		break;
	}
	return id;
}

/* ---------------------------------------------------------------- the harness */

static struct harness h;

static void allow_low_and_ac2(struct broker_config *c)
{
	char err[128];

	/* So that every owner kind can submit in the visibility table. */
	cr_assert_eq(config_set(c, "sandboxed-submit-allow", USER, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(config_set(c, "sandboxed-submit-allow", AC2, err, sizeof(err)), 0, "%s", err);
}

static void setup(void)
{
	h_setup(&h, NULL);
}

static void teardown(void)
{
	h_teardown(&h);
}

static void restart_with(void (*tweak)(struct broker_config *c))
{
	h_teardown(&h);
	h_setup(&h, tweak);
}

static size_t listed(struct client *cl)
{
	struct dob_msg m, r;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_JOBS;
	cl_request(cl, &m, DOB_MSG_LIST_JOBS_REPLY, &r);
	n = r.u.list_jobs_reply.n_jobs;
	dob_msg_clear(&r);
	return n;
}

static unsigned errors_received(struct client *cl)
{
	struct dob_msg m;
	unsigned n = 0;

	while (cl_recv(cl, &m)) {
		n += m.type == DOB_MSG_JOB_ERROR;
		dob_msg_clear(&m);
	}
	return n;
}

static void connect_as(struct client *cl, enum pk k, enum dob_role role)
{
	struct dob_identity id = principal(k);

	cl_connect(cl, &h, &id);
	cl_hello(cl, pk_name[k], role, NULL);
}

/* A SubmitJob of one file with the given URL and path. */
static enum dob_status submit(struct client *cl, const char *url, const char *path,
			      struct dob_guid *job, char *msg, size_t msglen)
{
	struct dob_file_spec f = { .remote_url = (char *)url, .local_path = (char *)path };
	struct dob_msg m, r;
	enum dob_status st;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_SUBMIT_JOB;
	m.u.submit_job.display_name = (char *)"job";
	m.u.submit_job.n_files = 1;
	m.u.submit_job.files = &f;
	m.u.submit_job.priority = DOB_PRIORITY_NORMAL;
	cl_request(cl, &m, DOB_MSG_JOB_REPLY, &r);
	st = r.u.job_reply.status;
	if (job && r.u.job_reply.has_job)
		*job = r.u.job_reply.job.job.job_id;
	if (msg)
		snprintf(msg, msglen, "%s", r.u.job_reply.message ? r.u.job_reply.message : "");
	dob_msg_clear(&r);
	return st;
}

/* ---------------------------------------------------------------- see, list, act */

/* One cell: a job submitted by `owner`, in error; what `viewer` is told. */
struct see_cell {
	enum pk viewer, owner;
	bool sees;
};

ParameterizedTestParameters(authz_table, viewer_sees_lists_and_acts_on_owners_job)
{
	static struct see_cell cells[] = {
		/* A full-band process of the user sees all its user's principals. */
		{ P_MED, P_MED, true },     { P_MED, P_LOW, true },     { P_MED, P_AC1, true },
		{ P_MED, P_AC2, true },     { P_MED, P_OTHER, false },  { P_MED, P_HIGH, true },
		{ P_HIGH, P_MED, true },    { P_HIGH, P_LOW, true },    { P_HIGH, P_AC1, true },
		{ P_HIGH, P_AC2, true },    { P_HIGH, P_OTHER, false },
		/* Low integrity outside an AppContainer: its own principal only. */
		{ P_LOW, P_MED, false },    { P_LOW, P_HIGH, false },   { P_LOW, P_LOW, true },
		{ P_LOW, P_AC1, false },    { P_LOW, P_AC2, false },    { P_LOW, P_OTHER, false },
		/* Two AppContainers of one user are two principals. */
		{ P_AC1, P_MED, false },    { P_AC1, P_LOW, false },    { P_AC1, P_AC1, true },
		{ P_AC1, P_AC2, false },    { P_AC1, P_OTHER, false },
		{ P_AC2, P_MED, false },    { P_AC2, P_LOW, false },    { P_AC2, P_AC1, false },
		{ P_AC2, P_AC2, true },     { P_AC2, P_OTHER, false },
		/* Another user. */
		{ P_OTHER, P_MED, false },  { P_OTHER, P_LOW, false },  { P_OTHER, P_AC1, false },
		{ P_OTHER, P_AC2, false },  { P_OTHER, P_OTHER, true },
		/* Administrators see all; not from a low-integrity process. */
		{ P_ADMIN, P_MED, true },   { P_ADMIN, P_LOW, true },   { P_ADMIN, P_AC1, true },
		{ P_ADMIN, P_AC2, true },   { P_ADMIN, P_OTHER, true },
		{ P_LOW_ADMIN, P_MED, false }, { P_LOW_ADMIN, P_OTHER, false },
		{ P_LOW_ADMIN, P_ADMIN, false },
	};
	return cr_make_param_array(struct see_cell, cells, sizeof(cells) / sizeof(cells[0]));
}

ParameterizedTest(struct see_cell *c, authz_table, viewer_sees_lists_and_acts_on_owners_job,
		  .timeout = 30)
{
	struct client o, v;
	struct dob_guid id;
	char msg[256];

	h_setup(&h, allow_low_and_ac2);
	connect_as(&o, c->owner, DOB_ROLE_CONTROLLER);
	connect_as(&v, c->viewer, DOB_ROLE_CONTROLLER);
	cr_assert_eq(submit(&o, "https://example.com/f", "/data/f", &id, msg, sizeof(msg)),
		     DOB_STATUS_OK, "%s submits: %s", pk_name[c->owner], msg);
	fb_error(h.fb, fb_find(h.fb, &id), 0x80190194);
	fake_pump(h.loop);
	cr_assert_eq(errors_received(&o), 1, "the owner hears of its own job");
	cr_expect_eq(errors_received(&v), c->sees ? 1u : 0u, "%s %s the JobError of %s's job",
		     pk_name[c->viewer], c->sees ? "misses" : "receives", pk_name[c->owner]);
	cr_expect_eq(listed(&v), c->sees ? 1u : 0u, "%s: ListJobs with %s's job",
		     pk_name[c->viewer], pk_name[c->owner]);
	cr_expect_eq(cl_act(&v, &id, 0, DOB_ACTION_RESUME, NULL),
		     c->sees ? DOB_STATUS_OK : DOB_STATUS_UNKNOWN_JOB, "%s acts on %s's job",
		     pk_name[c->viewer], pk_name[c->owner]);
	cr_expect_eq(h.fb->n_act, c->sees ? 1u : 0u, "actions that reached the backend");
	cl_free(&o);
	cl_free(&v);
	h_teardown(&h);
}

/* ---------------------------------------------------------------- adopt, submit, stats */

struct op_cell {
	enum pk who;
	bool adopt, submit, sessions;
};

ParameterizedTestParameters(authz_table, principal_adopts_submits_and_reads_sessions)
{
	static struct op_cell cells[] = {
		{ P_MED, true, true, false },    { P_HIGH, true, true, false },
		{ P_LOW, false, false, false },  { P_AC1, false, true, false },
		{ P_AC2, false, false, false },  { P_OTHER, true, true, false },
		{ P_ADMIN, true, true, true },   { P_LOW_ADMIN, false, false, false },
	};
	return cr_make_param_array(struct op_cell, cells, sizeof(cells) / sizeof(cells[0]));
}

ParameterizedTest(struct op_cell *c, authz_table, principal_adopts_submits_and_reads_sessions,
		  .timeout = 30)
{
	struct dob_identity id = principal(c->who);
	struct client cl, other;
	struct fb_job *j;
	struct dob_msg m, r;
	char msg[256];

	h_setup(&h, NULL);
	j = fb_add(h.fb, "existing", DOB_JOB_DOWNLOAD, DOB_STATE_SUSPENDED);
	snprintf(j->owner, sizeof(j->owner), "%s", id.user_sid);
	connect_as(&cl, c->who, DOB_ROLE_CONTROLLER);
	cr_expect_eq(cl_adopt(&cl, &j->id, NULL),
		     c->adopt ? DOB_STATUS_OK : DOB_STATUS_ACCESS_DENIED, "%s adopts its user's job",
		     pk_name[c->who]);
	cr_expect_eq(submit(&cl, "http://example.com/f", "/data/f", NULL, msg, sizeof(msg)),
		     c->submit ? DOB_STATUS_OK : DOB_STATUS_ACCESS_DENIED, "%s submits: %s",
		     pk_name[c->who], msg);
	if (!c->submit)
		cr_expect(strstr(msg, "internetClient"), "the refusal says why: %s", msg);
	/* Another client of the same principal: the asker is not listed
	 * (issue 12), this one is, to whoever may see sessions. */
	connect_as(&other, c->who, DOB_ROLE_OBSERVER);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_GET_STATS;
	cl_request(&cl, &m, DOB_MSG_STATS, &r);
	cr_expect_eq(r.u.stats.n_sessions, c->sessions ? 1u : 0u, "%s: per-session statistics",
		     pk_name[c->who]);
	dob_msg_clear(&r);
	cl_free(&other);
	cl_free(&cl);
	h_teardown(&h);
}

/* ---------------------------------------------------------------- allow-list */

/* Parameters are copied into the test's process: strings in place, no
 * pointers. */
struct allow_cell {
	enum pk who;
	char allow[32]; /* one entry, or "" */
	bool submit;
};

ParameterizedTestParameters(authz_table, sandboxed_submit_allow_list)
{
	static struct allow_cell cells[] = {
		{ P_LOW, USER, true },     /* low integrity: its user SID admits it */
		{ P_LOW, OTHER, false },
		{ P_LOW, AC2, false },
		{ P_AC2, AC2, true },      /* an AppContainer: its package SID */
		{ P_AC2, AC1, false },
		{ P_AC2, USER, false },    /* the user SID does not admit its containers */
		{ P_AC1, "", true },       /* internetClient needs no entry */
		{ P_AC2, "", false },
	};
	return cr_make_param_array(struct allow_cell, cells, sizeof(cells) / sizeof(cells[0]));
}

static const char *allow_entry;

static void allow_one(struct broker_config *cfg)
{
	char err[128];

	if (*allow_entry)
		cr_assert_eq(config_set(cfg, "sandboxed-submit-allow", allow_entry, err, sizeof(err)),
			     0, "%s", err);
}

ParameterizedTest(struct allow_cell *c, authz_table, sandboxed_submit_allow_list, .timeout = 30)
{
	struct client cl;
	char msg[256];

	allow_entry = c->allow;
	h_setup(&h, allow_one);
	connect_as(&cl, c->who, DOB_ROLE_CONTROLLER);
	cr_expect_eq(submit(&cl, "https://example.com/f", "/data/f", NULL, msg, sizeof(msg)),
		     c->submit ? DOB_STATUS_OK : DOB_STATUS_ACCESS_DENIED,
		     "%s with allow-list %s: %s", pk_name[c->who], *c->allow ? c->allow : "(empty)",
		     msg);
	cr_expect_eq(h.fb->n_submit, c->submit ? 1u : 0u, "submits that reached the backend");
	cl_free(&cl);
	h_teardown(&h);
}

/* ---------------------------------------------------------------- limits */

TestSuite(authz, .init = setup, .fini = teardown, .timeout = 30);

static void one_job_allow_low(struct broker_config *c)
{
	allow_low_and_ac2(c);
	c->max_jobs_per_identity = 1;
}

Test(authz, the_job_limit_counts_per_principal_not_per_user)
{
	struct client med, high, low, ac1, ac2;
	char msg[256];

	restart_with(one_job_allow_low);
	connect_as(&med, P_MED, DOB_ROLE_CONTROLLER);
	connect_as(&high, P_HIGH, DOB_ROLE_CONTROLLER);
	connect_as(&low, P_LOW, DOB_ROLE_CONTROLLER);
	connect_as(&ac1, P_AC1, DOB_ROLE_CONTROLLER);
	connect_as(&ac2, P_AC2, DOB_ROLE_CONTROLLER);
	cr_assert_eq(submit(&med, "http://h/1", "/d/1", NULL, msg, sizeof(msg)), DOB_STATUS_OK);
	cr_assert_eq(submit(&high, "http://h/2", "/d/2", NULL, msg, sizeof(msg)),
		     DOB_STATUS_LIMIT_EXCEEDED, "medium and high are one principal: %s", msg);
	cr_assert_eq(submit(&low, "http://h/3", "/d/3", NULL, msg, sizeof(msg)), DOB_STATUS_OK,
		     "low integrity has a limit of its own: %s", msg);
	cr_assert_eq(submit(&low, "http://h/4", "/d/4", NULL, msg, sizeof(msg)),
		     DOB_STATUS_LIMIT_EXCEEDED, "%s", msg);
	cr_assert_eq(submit(&ac1, "http://h/5", "/d/5", NULL, msg, sizeof(msg)), DOB_STATUS_OK,
		     "%s", msg);
	cr_assert_eq(submit(&ac2, "http://h/6", "/d/6", NULL, msg, sizeof(msg)), DOB_STATUS_OK,
		     "each AppContainer has a limit of its own: %s", msg);
	cl_free(&med);
	cl_free(&high);
	cl_free(&low);
	cl_free(&ac1);
	cl_free(&ac2);
}

static void one_conn(struct broker_config *c)
{
	c->max_conns_per_identity = 1;
}

Test(authz, the_connection_limit_counts_per_principal_not_per_user)
{
	struct dob_identity med = principal(P_MED), high = principal(P_HIGH);
	struct dob_identity low = principal(P_LOW), ac1 = principal(P_AC1);
	struct client a, b, c, d;
	struct dob_msg m;

	restart_with(one_conn);
	cl_connect(&a, &h, &med);
	cl_connect(&b, &h, &high);
	cl_expect(&b, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_TOO_MANY_CONNECTIONS, "%s",
		     m.u.protocol_error.message);
	dob_msg_clear(&m);
	cl_connect(&c, &h, &low);
	cl_hello(&c, "low", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&d, &h, &ac1);
	cl_hello(&d, "ac1", DOB_ROLE_OBSERVER, NULL);
	cl_hello(&a, "med", DOB_ROLE_OBSERVER, NULL);
	cl_free(&a);
	cl_free(&b);
	cl_free(&c);
	cl_free(&d);
}

/* ---------------------------------------------------------------- adopt fails closed */

Test(authz, adopting_a_job_whose_owner_cannot_be_read_is_refused)
{
	struct fb_job *j = fb_add(h.fb, "ownerless", DOB_JOB_DOWNLOAD, DOB_STATE_ERROR);
	struct client u, adm;
	struct dob_msg r;

	j->hr = 0x80190194;
	connect_as(&u, P_MED, DOB_ROLE_CONTROLLER);
	cr_assert_eq(cl_adopt(&u, &j->id, &r), DOB_STATUS_ACCESS_DENIED);
	cr_assert(strstr(r.u.job_reply.message, "owner"), "%s", r.u.job_reply.message);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_attach, 0, "its callback was left alone");
	cr_assert_eq(broker_job_count(h.b), 0);
	/* An administrator may: it could see the job anyway. */
	connect_as(&adm, P_ADMIN, DOB_ROLE_CONTROLLER);
	cr_assert_eq(cl_adopt(&adm, &j->id, NULL), DOB_STATUS_OK);
	cl_free(&u);
	cl_free(&adm);
}

Test(authz, adopting_makes_the_adopter_the_owner)
{
	struct fb_job *j = fb_add(h.fb, "existing", DOB_JOB_DOWNLOAD, DOB_STATE_ERROR);
	struct client a, b;
	struct dob_msg r;

	j->hr = 0x80190194;
	snprintf(j->owner, sizeof(j->owner), "%s", USER);
	connect_as(&a, P_MED, DOB_ROLE_CONTROLLER);
	connect_as(&b, P_OTHER, DOB_ROLE_CONTROLLER);
	cr_assert_eq(cl_adopt(&a, &j->id, &r), DOB_STATUS_OK);
	cr_assert_str_eq(r.u.job_reply.job.owner.user_sid, USER);
	dob_msg_clear(&r);
	cr_assert_eq(errors_received(&a), 1, "adopting a job in error opens its episode");
	cr_assert_eq(cl_adopt(&a, &j->id, NULL), DOB_STATUS_ALREADY_MANAGED);
	cr_assert_eq(cl_adopt(&b, &j->id, NULL), DOB_STATUS_ACCESS_DENIED);
	cr_assert_eq(listed(&b), 0);
	cl_free(&a);
	cl_free(&b);
}

Test(authz, adopting_a_job_the_service_says_is_another_users_is_refused)
{
	struct fb_job *j = fb_add(h.fb, "bob's", DOB_JOB_DOWNLOAD, DOB_STATE_QUEUED);
	struct client a;

	snprintf(j->owner, sizeof(j->owner), "%s", OTHER);
	connect_as(&a, P_MED, DOB_ROLE_CONTROLLER);
	cr_assert_eq(cl_adopt(&a, &j->id, NULL), DOB_STATUS_ACCESS_DENIED);
	cr_assert_eq(h.fb->n_attach, 0, "its callback was left alone");
	cr_assert_eq(broker_job_count(h.b), 0);
	cl_free(&a);
}

Test(authz, adopting_an_unknown_job_is_unknown_job)
{
	struct dob_guid none = { { 1, 2, 3 } };
	struct client a;

	connect_as(&a, P_MED, DOB_ROLE_CONTROLLER);
	cr_assert_eq(cl_adopt(&a, &none, NULL), DOB_STATUS_UNKNOWN_JOB);
	cl_free(&a);
}

/* ---------------------------------------------------------------- URLs and paths */

Test(authz, only_http_and_https_urls_are_fetched)
{
	static const char *const refused[] = {
		"ftp://example.com/f", "file:///etc/passwd", "\\\\server\\share\\f", "example.com/f",
		"http://", "https:///path", "gopher://h/", "httpx://h/f",
	};
	static const char *const accepted[] = { "http://h/f", "https://h/f", "HTTPS://H/F" };
	struct client a;
	char msg[256];

	connect_as(&a, P_MED, DOB_ROLE_CONTROLLER);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_expect_eq(submit(&a, refused[i], "/d/f", NULL, msg, sizeof(msg)),
			     DOB_STATUS_INVALID_ARGUMENT, "%s", refused[i]);
		cr_expect(strstr(msg, "only http:// and https://"), "%s: %s", refused[i], msg);
	}
	cr_assert_eq(h.fb->n_submit, 0);
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		cr_expect_eq(submit(&a, accepted[i], "/d/f", NULL, msg, sizeof(msg)), DOB_STATUS_OK,
			     "%s: %s", accepted[i], msg);
	cl_free(&a);
}

Test(authz, a_path_form_the_platform_refuses_is_invalid_argument_naming_it)
{
	struct client a;
	char msg[512];

	fake_path_rule("\\\\", -DOB_EINVAL);
	connect_as(&a, P_MED, DOB_ROLE_CONTROLLER);
	cr_assert_eq(submit(&a, "http://h/f", "\\\\server\\share\\f", NULL, msg, sizeof(msg)),
		     DOB_STATUS_INVALID_ARGUMENT);
	cr_assert(strstr(msg, "\\\\server\\share\\f") && strstr(msg, "UNC"), "%s", msg);
	cr_assert_eq(h.fb->n_submit, 0);
	cl_free(&a);
}

Test(authz, a_path_the_caller_cannot_write_is_refused_naming_it)
{
	struct client a;
	char msg[512];

	fake_path_rule("/etc/", -DOB_EACCES);
	connect_as(&a, P_MED, DOB_ROLE_CONTROLLER);
	cr_assert_eq(submit(&a, "http://h/f", "/etc/passwd", NULL, msg, sizeof(msg)),
		     DOB_STATUS_PATH_DENIED);
	cr_assert(strstr(msg, "/etc/passwd"), "%s", msg);
	cr_assert_eq(h.fb->n_submit, 0);
	cl_free(&a);
}

struct wpath_cell {
	char path[40];
	enum dob_wpath kind;
};

ParameterizedTestParameters(trust_rules, windows_path_forms)
{
	static struct wpath_cell cells[] = {
		{ "C:\\Users\\a\\f.bin", DOB_WPATH_OK },
		{ "c:/Users/a/f.bin", DOB_WPATH_OK },
		{ "D:\\f", DOB_WPATH_OK },
		{ "", DOB_WPATH_EMPTY },
		{ "\\\\?\\C:\\x\\f", DOB_WPATH_VERBATIM },
		{ "//?/C:/x/f", DOB_WPATH_VERBATIM },
		{ "\\??\\C:\\x\\f", DOB_WPATH_VERBATIM },
		{ "\\\\.\\pipe\\dobroker", DOB_WPATH_DEVICE },
		{ "\\\\.\\C:", DOB_WPATH_DEVICE },
		{ "\\\\server\\share\\f", DOB_WPATH_UNC },
		{ "//server/share/f", DOB_WPATH_UNC },
		{ "f.bin", DOB_WPATH_RELATIVE },
		{ "a\\f.bin", DOB_WPATH_RELATIVE },
		{ "\\Users\\a\\f", DOB_WPATH_RELATIVE },
		{ "C:f.bin", DOB_WPATH_RELATIVE },
		{ "C:\\a\\..\\Windows\\f", DOB_WPATH_DOTS },
		{ "C:\\a\\.\\f", DOB_WPATH_DOTS },
		{ "C:\\a\\f.", DOB_WPATH_DOTS },
		{ "C:\\a\\f ", DOB_WPATH_DOTS },
		{ "C:\\a\\f.bin:evil", DOB_WPATH_STREAM },
		{ "C:\\a\\f.bin::$DATA", DOB_WPATH_STREAM },
		{ "C:\\a\\NUL", DOB_WPATH_RESERVED },
		{ "C:\\a\\con.txt", DOB_WPATH_RESERVED },
		{ "C:\\a\\com1", DOB_WPATH_RESERVED },
		{ "C:\\a\\lpt9.log", DOB_WPATH_RESERVED },
		{ "C:\\a\\console", DOB_WPATH_OK },
		{ "C:\\a\\com10", DOB_WPATH_OK },
		{ "C:\\a\\f?.bin", DOB_WPATH_BAD_CHARACTER },
		{ "C:\\a\\f\x01.bin", DOB_WPATH_BAD_CHARACTER },
	};
	return cr_make_param_array(struct wpath_cell, cells, sizeof(cells) / sizeof(cells[0]));
}

ParameterizedTest(struct wpath_cell *c, trust_rules, windows_path_forms)
{
	enum dob_wpath k = dob_win_path_check(c->path);

	cr_expect_eq(k, c->kind, "\"%s\": %s, want %s", c->path, dob_win_path_reason(k),
		     dob_win_path_reason(c->kind));
}

Test(trust_rules, the_core_rules_without_a_broker)
{
	struct dob_identity med = principal(P_MED), low = principal(P_LOW);
	struct dob_identity ac1 = principal(P_AC1), ac2 = principal(P_AC2);
	struct dob_identity empty;
	char why[256];
	char *allow[] = { (char *)AC2 };

	memset(&empty, 0, sizeof(empty));
	cr_assert(!authz_same_principal(&empty, &empty), "an empty user SID matches nobody");
	cr_assert(!authz_can_see(&empty, &empty));
	cr_assert(authz_same_principal(&med, &med));
	cr_assert(!authz_same_principal(&med, &low), "the integrity band is part of the principal");
	cr_assert(!authz_same_principal(&ac1, &ac2));
	cr_assert_eq(authz_can_act(&med, DOB_ROLE_OBSERVER, &med), DOB_STATUS_NOT_CONTROLLER);
	cr_assert(authz_can_submit(&ac2, allow, 1, why, sizeof(why)));
	cr_assert(!authz_can_submit(&ac2, NULL, 0, why, sizeof(why)));
	cr_assert(strstr(why, AC2), "%s", why);
	cr_assert(!dob_url_http(NULL));
}
