/*
 * tests/unit/test_history.c - ListHistory (resolved episodes, newest first,
 * filtered by job, limited, only those the caller may see, kept across a
 * restart by the journal) and ListUnmanaged (the backend's jobs the broker
 * does not manage, only the caller's own, none for a backend without
 * enumeration).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_plat.h"
#include "platform.h"

static struct harness h;
static struct dob_identity alice, bob, root;

static void setup(void)
{
	h_setup(&h, NULL);
	alice = h_user(1000);
	bob = h_user(2000);
	root = h_admin();
}

static void teardown(void)
{
	h_teardown(&h);
}

TestSuite(history, .init = setup, .fini = teardown, .timeout = 30);

static uint64_t error_episode(struct client *cl, struct fb_job *j, uint32_t hr)
{
	struct dob_msg m;
	uint64_t ep;

	fb_error(h.fb, j, hr);
	cl_skip_to(cl, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(memcmp(&m.u.job_error.job.job_id, &j->id, sizeof(j->id)), 0);
	ep = m.u.job_error.episode_id;
	dob_msg_clear(&m);
	return ep;
}

static struct fb_job *submit(struct client *cl, const char *name)
{
	struct dob_guid id;

	cr_assert_eq(cl_submit(cl, name, "/home/alice/f.bin", &id, NULL), DOB_STATUS_OK);
	return fb_find(h.fb, &id);
}

static void act(struct client *cl, struct fb_job *j, uint64_t ep, enum dob_action a)
{
	struct dob_msg r;

	cr_assert_eq(cl_act(cl, &j->id, ep, a, &r), DOB_STATUS_OK, "%s",
		     r.u.action_result.message ? r.u.action_result.message : "");
	dob_msg_clear(&r);
}

/* ListHistory with an optional job filter (NULL = all) and a limit. */
static void history(struct client *cl, const struct dob_guid *job, uint32_t limit,
		    struct dob_msg *reply)
{
	struct dob_guid ids[1];
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_HISTORY;
	if (job) {
		ids[0] = *job;
		m.u.list_history.job_ids = ids;
		m.u.list_history.n_job_ids = 1;
	}
	m.u.list_history.limit = limit;
	cl_request(cl, &m, DOB_MSG_HISTORY_REPLY, reply);
	cr_assert_eq(reply->u.history_reply.status, DOB_STATUS_OK);
}

static void unmanaged(struct client *cl, struct dob_msg *reply)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_UNMANAGED;
	cl_request(cl, &m, DOB_MSG_UNMANAGED_REPLY, reply);
}

static bool lists(const struct dob_unmanaged_reply *r, const struct fb_job *j)
{
	for (size_t i = 0; i < r->n_jobs; i++)
		if (!memcmp(&r->jobs[i].job_id, &j->id, sizeof(j->id)))
			return true;
	return false;
}

/* Alice's controller resolves two episodes: cancel on "first" (HRESULT of
 * the error 404), resume on "second" (500). */
struct two {
	struct fb_job *first, *second;
	uint64_t ep1, ep2;
	int64_t before_us;
};

static void two_decisions(struct client *cl, struct two *t)
{
	cl_connect(cl, &h, &alice);
	cl_hello(cl, "ctl-alice", DOB_ROLE_CONTROLLER, NULL);
	t->first = submit(cl, "first");
	t->second = submit(cl, "second");
	t->before_us = plat_wall_us();
	t->ep1 = error_episode(cl, t->first, 0x80190194);
	act(cl, t->first, t->ep1, DOB_ACTION_CANCEL);
	fake_clock_advance(h.loop, 10);
	t->ep2 = error_episode(cl, t->second, 0x801901F4);
	act(cl, t->second, t->ep2, DOB_ACTION_RESUME);
}

Test(history, lists_decisions_newest_first_with_who_what_when_and_state)
{
	struct client cl;
	struct two t;
	struct dob_msg r;
	const struct dob_history_entry *e;

	two_decisions(&cl, &t);
	history(&cl, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 2);
	e = &r.u.history_reply.entries[0];
	cr_assert_eq(e->resolution.episode_id, t.ep2, "newest first");
	cr_assert_eq(memcmp(&e->resolution.job_id, &t.second->id, sizeof(t.second->id)), 0);
	cr_assert_eq(e->resolution.action, DOB_ACTION_RESUME);
	cr_assert_eq(e->resolution.resolved_by, DOB_RESOLVED_CONTROLLER);
	cr_assert_str_eq(e->resolution.actor.client_name, "ctl-alice");
	cr_assert_eq(e->resolution.new_state, DOB_STATE_QUEUED);
	cr_assert_str_eq(e->display_name, "second");
	cr_assert_geq(e->first_seen_us, t.before_us);
	cr_assert_geq(e->resolved_us, e->first_seen_us);
	e = &r.u.history_reply.entries[1];
	cr_assert_eq(e->resolution.episode_id, t.ep1);
	cr_assert_eq(e->resolution.action, DOB_ACTION_CANCEL);
	cr_assert_eq(e->resolution.new_state, DOB_STATE_CANCELLED);
	cr_assert_str_eq(e->display_name, "first");
	cr_assert_leq(e->resolved_us, r.u.history_reply.entries[0].resolved_us);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, records_the_hresult_of_a_policy_or_a_failed_call)
{
	struct client cl;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "ctl-alice", DOB_ROLE_CONTROLLER, NULL);
	j = submit(&cl, "left");
	ep = error_episode(&cl, j, 0x80190194);
	/* The job leaves ERROR by itself: the broker resolves it. */
	j->state = DOB_STATE_TRANSFERRING;
	fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	cl_skip_to(&cl, DOB_MSG_RESOLUTION, &r);
	dob_msg_clear(&r);
	history(&cl, &j->id, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 1);
	cr_assert_eq(r.u.history_reply.entries[0].resolution.episode_id, ep);
	cr_assert_eq(r.u.history_reply.entries[0].resolution.resolved_by,
		     DOB_RESOLVED_JOB_LEFT_ERROR);
	cr_assert_eq(r.u.history_reply.entries[0].resolution.new_state,
		     DOB_STATE_TRANSFERRING);
	cr_assert_eq(r.u.history_reply.entries[0].resolution.hresult, 0);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, filters_by_job)
{
	struct client cl;
	struct two t;
	struct dob_msg r;
	struct dob_guid other = { { 0x77 } };

	two_decisions(&cl, &t);
	history(&cl, &t.first->id, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 1);
	cr_assert_eq(r.u.history_reply.entries[0].resolution.episode_id, t.ep1);
	dob_msg_clear(&r);
	history(&cl, &other, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 0, "a job without decisions lists none");
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, limit_keeps_the_newest)
{
	struct client cl;
	struct two t;
	struct dob_msg r;

	two_decisions(&cl, &t);
	history(&cl, NULL, 1, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 1);
	cr_assert_eq(r.u.history_reply.entries[0].resolution.episode_id, t.ep2);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, another_users_decisions_are_not_listed_but_privileged_callers_see_all)
{
	struct client cl, other, admin;
	struct two t;
	struct dob_msg r;

	two_decisions(&cl, &t);
	cl_connect(&other, &h, &bob);
	cl_hello(&other, "bob", DOB_ROLE_OBSERVER, NULL);
	history(&other, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 0, "bob may not see alice's jobs");
	dob_msg_clear(&r);
	history(&other, &t.first->id, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 0, "not even by naming the job");
	dob_msg_clear(&r);
	cl_connect(&admin, &h, &root);
	cl_hello(&admin, "root", DOB_ROLE_OBSERVER, NULL);
	history(&admin, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 2);
	dob_msg_clear(&r);
	cl_free(&admin);
	cl_free(&other);
	cl_free(&cl);
}

Test(history, comes_back_from_the_journal_after_a_restart)
{
	struct client cl, again, other;
	struct two t;
	struct dob_msg r, before;

	two_decisions(&cl, &t);
	history(&cl, NULL, 0, &before);
	cl_free(&cl);
	h_restart(&h);
	cl_connect(&again, &h, &alice);
	cl_hello(&again, "ctl-alice-2", DOB_ROLE_OBSERVER, NULL);
	history(&again, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct dob_history_entry *a = &before.u.history_reply.entries[i];
		const struct dob_history_entry *b = &r.u.history_reply.entries[i];

		cr_assert_eq(b->resolution.episode_id, a->resolution.episode_id);
		cr_assert_eq(b->resolution.action, a->resolution.action);
		cr_assert_eq(b->resolution.new_state, a->resolution.new_state);
		cr_assert_str_eq(b->resolution.actor.client_name, "ctl-alice");
		cr_assert_eq(b->resolved_us, a->resolved_us);
		cr_assert_eq(b->first_seen_us, a->first_seen_us);
		cr_assert_str_eq(b->display_name, a->display_name);
	}
	dob_msg_clear(&r);
	/* The cancelled job is gone, but its owner still is known. */
	cl_connect(&other, &h, &bob);
	cl_hello(&other, "bob", DOB_ROLE_OBSERVER, NULL);
	history(&other, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 0);
	dob_msg_clear(&r);
	dob_msg_clear(&before);
	cl_free(&other);
	cl_free(&again);
}

static void tiny_journal(struct broker_config *c)
{
	c->journal_compact_bytes = 1024;
}

/* Compaction rewrites the journal from the ring: every field of an entry,
 * the owner of a job that is gone included, must survive it. */
Test(history, survives_compaction_of_the_journal_with_every_field)
{
	struct client cl, again, other;
	struct fb_job *jobs[10];
	struct dob_msg r, before;

	h_teardown(&h);
	h_setup(&h, tiny_journal);
	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "ctl-alice", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 10; i++) {
		uint64_t ep;

		jobs[i] = submit(&cl, "compact-me");
		ep = error_episode(&cl, jobs[i], 0x80190194);
		act(&cl, jobs[i], ep, DOB_ACTION_CANCEL); /* the job is gone after it */
	}
	history(&cl, NULL, 0, &before);
	cr_assert_eq(before.u.history_reply.n_entries, 10);
	cl_free(&cl);
	h_restart(&h);
	cl_connect(&again, &h, &alice);
	cl_hello(&again, "alice-2", DOB_ROLE_OBSERVER, NULL);
	history(&again, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 10);
	for (size_t i = 0; i < 10; i++) {
		const struct dob_history_entry *a = &before.u.history_reply.entries[i];
		const struct dob_history_entry *b = &r.u.history_reply.entries[i];

		cr_assert_eq(b->resolution.episode_id, a->resolution.episode_id);
		cr_assert_eq(b->resolution.new_state, DOB_STATE_CANCELLED);
		cr_assert_eq(b->resolution.hresult, a->resolution.hresult);
		cr_assert_str_eq(b->resolution.message, a->resolution.message);
		cr_assert_eq(b->resolved_us, a->resolved_us);
		cr_assert_eq(b->first_seen_us, a->first_seen_us);
		cr_assert_str_eq(b->display_name, "compact-me");
	}
	dob_msg_clear(&r);
	cl_connect(&other, &h, &bob);
	cl_hello(&other, "bob", DOB_ROLE_OBSERVER, NULL);
	history(&other, NULL, 0, &r);
	cr_assert_eq(r.u.history_reply.n_entries, 0, "the owner survived the compaction");
	dob_msg_clear(&r);
	dob_msg_clear(&before);
	cl_free(&other);
	cl_free(&again);
}

/* ---------------------------------------------------------------- unmanaged */

static struct fb_job *foreign(const char *name, const char *owner, enum dob_job_state st)
{
	struct fb_job *j = fb_add(h.fb, name, DOB_JOB_DOWNLOAD, st);

	snprintf(j->owner, sizeof(j->owner), "%s", owner);
	return j;
}

Test(history, unmanaged_lists_the_callers_own_jobs_that_the_broker_does_not_manage)
{
	struct client cl, admin;
	struct fb_job *mine, *bobs, *done, *nobody, *managed;
	struct dob_msg r;

	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "alice", DOB_ROLE_CONTROLLER, NULL);
	managed = submit(&cl, "managed");
	snprintf(managed->owner, sizeof(managed->owner), "%s", alice.user_sid);
	mine = foreign("mine", alice.user_sid, DOB_STATE_ERROR);
	bobs = foreign("bobs", bob.user_sid, DOB_STATE_SUSPENDED);
	done = foreign("done", alice.user_sid, DOB_STATE_ACKNOWLEDGED);
	nobody = foreign("nobody", "", DOB_STATE_QUEUED);
	unmanaged(&cl, &r);
	cr_assert_eq(r.u.unmanaged_reply.status, DOB_STATUS_OK, "%s",
		     r.u.unmanaged_reply.message ? r.u.unmanaged_reply.message : "");
	cr_assert_eq(r.u.unmanaged_reply.n_jobs, 2);
	cr_assert(lists(&r.u.unmanaged_reply, mine));
	cr_assert(lists(&r.u.unmanaged_reply, nobody), "an unknown owner: adopt allows it");
	cr_assert_not(lists(&r.u.unmanaged_reply, bobs), "bob's job is not alice's to adopt");
	cr_assert_str_eq(r.u.unmanaged_reply.jobs[0].display_name, "mine");
	cr_assert_eq(r.u.unmanaged_reply.jobs[0].state, DOB_STATE_ERROR);
	cr_assert_str_eq(r.u.unmanaged_reply.jobs[0].owner, alice.user_sid);
	cr_assert(h.fb->enum_all_users, "every user's jobs are read, then filtered");
	dob_msg_clear(&r);
	cl_connect(&admin, &h, &root);
	cl_hello(&admin, "root", DOB_ROLE_CONTROLLER, NULL);
	unmanaged(&admin, &r);
	cr_assert_eq(r.u.unmanaged_reply.status, DOB_STATUS_OK);
	cr_assert_eq(r.u.unmanaged_reply.n_jobs, 3);
	cr_assert(lists(&r.u.unmanaged_reply, mine));
	cr_assert(lists(&r.u.unmanaged_reply, bobs));
	cr_assert(lists(&r.u.unmanaged_reply, nobody));
	cr_assert_not(lists(&r.u.unmanaged_reply, done), "a final job cannot be adopted");
	cr_assert_not(lists(&r.u.unmanaged_reply, managed));
	dob_msg_clear(&r);
	cl_free(&admin);
	cl_free(&cl);
}

Test(history, unmanaged_job_disappears_once_adopted)
{
	struct client cl;
	struct fb_job *mine;
	struct dob_msg r;

	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "alice", DOB_ROLE_CONTROLLER, NULL);
	mine = foreign("mine", alice.user_sid, DOB_STATE_SUSPENDED);
	unmanaged(&cl, &r);
	cr_assert(lists(&r.u.unmanaged_reply, mine));
	dob_msg_clear(&r);
	cr_assert_eq(cl_adopt(&cl, &mine->id, &r), DOB_STATUS_OK);
	dob_msg_clear(&r);
	unmanaged(&cl, &r);
	cr_assert_eq(r.u.unmanaged_reply.n_jobs, 0);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, unmanaged_is_refused_to_a_sandboxed_client)
{
	struct client cl;
	struct dob_identity boxed = h_sandboxed(1000, "S-1-15-2-1");
	struct dob_msg r;

	foreign("mine", alice.user_sid, DOB_STATE_SUSPENDED);
	cl_connect(&cl, &h, &boxed);
	cl_hello(&cl, "app", DOB_ROLE_CONTROLLER, NULL);
	unmanaged(&cl, &r);
	cr_assert_eq(r.u.unmanaged_reply.status, DOB_STATUS_ACCESS_DENIED);
	cr_assert_eq(r.u.unmanaged_reply.n_jobs, 0);
	cr_assert_eq(h.fb->n_enumerate, 0);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, unmanaged_says_when_the_backend_cannot_enumerate)
{
	static struct backend_ops no_enum;
	struct client cl;
	struct dob_msg r;

	no_enum = *h.fb->base.ops;
	no_enum.enumerate = NULL;
	no_enum.name = "do";
	no_enum.kind = DOB_BACKEND_DO;
	h.fb->base.ops = &no_enum;
	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "alice", DOB_ROLE_CONTROLLER, NULL);
	unmanaged(&cl, &r);
	cr_assert_eq(r.u.unmanaged_reply.status, DOB_STATUS_UNAVAILABLE);
	cr_assert_not_null(strstr(r.u.unmanaged_reply.message, "Delivery Optimization has no EnumJobs"),
			   "%s", r.u.unmanaged_reply.message);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, unmanaged_reports_a_failed_enumeration_with_its_hresult)
{
	struct client cl;
	struct dob_msg r;

	h.fb->enum_hr = 0x80070005u;
	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "alice", DOB_ROLE_CONTROLLER, NULL);
	unmanaged(&cl, &r);
	cr_assert_eq(r.u.unmanaged_reply.status, DOB_STATUS_BACKEND_ERROR);
	cr_assert_eq(r.u.unmanaged_reply.hresult, 0x80070005u);
	cr_assert_not_null(strstr(r.u.unmanaged_reply.message, "0x80070005"), "%s",
			   r.u.unmanaged_reply.message);
	dob_msg_clear(&r);
	cl_free(&cl);
}

Test(history, unmanaged_times_out_when_the_backend_never_answers)
{
	struct client cl;
	struct dob_msg m, r;

	h.fb->hold_enumerate = true;
	cl_connect(&cl, &h, &alice);
	cl_hello(&cl, "alice", DOB_ROLE_CONTROLLER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_UNMANAGED;
	m.correlation_id = 99;
	cl_send(&cl, &m);
	cl_expect_nothing(&cl);
	fake_clock_advance(h.loop, h.cfg.action_timeout_ms + 1);
	cl_expect(&cl, DOB_MSG_UNMANAGED_REPLY, &r);
	cr_assert_eq(r.correlation_id, 99);
	cr_assert_eq(r.u.unmanaged_reply.status, DOB_STATUS_TIMEOUT);
	dob_msg_clear(&r);
	fb_release(h.fb); /* the late result is ignored */
	cl_expect_nothing(&cl);
	cl_free(&cl);
}
