/*
 * tests/unit/test_decide.c - the decision rules of broker/core/decide.c,
 * cell by cell: every claim phase x every input, and every refusal of an
 * Act in the order the rules apply them. Pure functions: no broker, no loop.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "decide.h"

/* ---------------------------------------------------------------- claims */

struct cell {
	enum claim_phase next;
	enum claim_outcome out;
};

/* The whole table: [phase][input]. Written out so that a change to one
 * cell is a deliberate change here. */
static const struct cell table[CLAIM_PHASE_MAX + 1][CI_MAX + 1] = {
	[CLAIM_NONE] = {
		[CI_RESULT_OK] = { CLAIM_NONE, CO_NONE },
		[CI_RESULT_FAILED] = { CLAIM_NONE, CO_NONE },
		[CI_TIMEOUT] = { CLAIM_NONE, CO_NONE },
		[CI_LOST] = { CLAIM_NONE, CO_NONE },
		[CI_READ_OUT] = { CLAIM_NONE, CO_NONE },
		[CI_READ_ERROR] = { CLAIM_NONE, CO_NONE },
		[CI_DUE] = { CLAIM_NONE, CO_NONE },
		[CI_LEFT_ERROR] = { CLAIM_NONE, CO_RESOLVE_LEFT },
	},
	[CLAIM_SCHEDULED] = {
		[CI_RESULT_OK] = { CLAIM_SCHEDULED, CO_NONE },
		[CI_RESULT_FAILED] = { CLAIM_SCHEDULED, CO_NONE },
		[CI_TIMEOUT] = { CLAIM_SCHEDULED, CO_NONE },
		[CI_LOST] = { CLAIM_SCHEDULED, CO_NONE },
		[CI_READ_OUT] = { CLAIM_SCHEDULED, CO_NONE },
		[CI_READ_ERROR] = { CLAIM_SCHEDULED, CO_NONE },
		[CI_DUE] = { CLAIM_INFLIGHT, CO_RUN },
		[CI_LEFT_ERROR] = { CLAIM_NONE, CO_RESOLVE_LEFT },
	},
	[CLAIM_INFLIGHT] = {
		[CI_RESULT_OK] = { CLAIM_NONE, CO_RESOLVE },
		[CI_RESULT_FAILED] = { CLAIM_NONE, CO_REOPEN },
		[CI_TIMEOUT] = { CLAIM_INFLIGHT, CO_KEEP },
		[CI_LOST] = { CLAIM_LOST, CO_KEEP },
		[CI_READ_OUT] = { CLAIM_INFLIGHT, CO_NONE },
		[CI_READ_ERROR] = { CLAIM_INFLIGHT, CO_NONE },
		[CI_DUE] = { CLAIM_INFLIGHT, CO_NONE },
		[CI_LEFT_ERROR] = { CLAIM_INFLIGHT, CO_NONE },
	},
	[CLAIM_LOST] = {
		[CI_RESULT_OK] = { CLAIM_NONE, CO_RESOLVE },
		[CI_RESULT_FAILED] = { CLAIM_NONE, CO_REOPEN },
		[CI_TIMEOUT] = { CLAIM_LOST, CO_NONE },
		[CI_LOST] = { CLAIM_LOST, CO_KEEP },
		[CI_READ_OUT] = { CLAIM_NONE, CO_RESOLVE_LEFT },
		[CI_READ_ERROR] = { CLAIM_NONE, CO_REOPEN },
		[CI_DUE] = { CLAIM_LOST, CO_NONE },
		[CI_LEFT_ERROR] = { CLAIM_NONE, CO_RESOLVE_LEFT },
	},
};

Test(decide, every_claim_phase_times_every_input_matches_the_table)
{
	for (int ph = CLAIM_NONE; ph <= CLAIM_PHASE_MAX; ph++)
		for (int in = 1; in <= CI_MAX; in++) {
			enum claim_outcome out = 99;
			enum claim_phase next = decide_claim(ph, in, &out);
			cr_expect_eq(next, table[ph][in].next, "phase %s input %d: next %s, want %s",
				     claim_phase_name(ph), in, claim_phase_name(next),
				     claim_phase_name(table[ph][in].next));
			cr_expect_eq(out, table[ph][in].out, "phase %s input %d: outcome %d, want %d",
				     claim_phase_name(ph), in, out, table[ph][in].out);
		}
}

Test(decide, a_claim_is_only_released_by_an_answer_or_a_read_after_it_was_lost)
{
	/* The property behind the table: from a claim with the backend
	 * (INFLIGHT or LOST), no input but the backend's answer or a read made
	 * after the call was declared lost ever leaves the episode free for a
	 * second action. A timeout in particular keeps it. */
	for (int ph = CLAIM_INFLIGHT; ph <= CLAIM_LOST; ph++)
		for (int in = 1; in <= CI_MAX; in++) {
			enum claim_outcome out;
			enum claim_phase next = decide_claim(ph, in, &out);
			bool answer = in == CI_RESULT_OK || in == CI_RESULT_FAILED;
			bool read = ph == CLAIM_LOST &&
				    (in == CI_READ_OUT || in == CI_READ_ERROR || in == CI_LEFT_ERROR);
			if (next == CLAIM_NONE)
				cr_expect(answer || read, "phase %s input %d released the claim",
					  claim_phase_name(ph), in);
		}
}

Test(decide, staleness_is_by_sequence_not_by_clock)
{
	cr_assert(decide_stale(4, 5));
	cr_assert_not(decide_stale(5, 5));
	cr_assert_not(decide_stale(6, 5));
	cr_assert_not(decide_stale(1, 0), "never settled: nothing is stale");
}

/* ---------------------------------------------------------------- acts */

static struct act_facts facts(void)
{
	struct act_facts f;

	memset(&f, 0, sizeof(f));
	f.access = DOB_STATUS_OK;
	f.job_managed = true;
	f.has_episode = true;
	f.episode_id = 7;
	f.phase = CLAIM_NONE;
	f.have_state = true;
	f.state = DOB_STATE_ERROR;
	f.type = DOB_JOB_DOWNLOAD;
	f.max_inflight = 4;
	return f;
}

static struct dob_act act(enum dob_action a, uint64_t episode)
{
	struct dob_act x;

	memset(&x, 0, sizeof(x));
	x.action = a;
	x.episode_id = episode;
	x.delay_ms = a == DOB_ACTION_RESUME_AFTER_DELAY ? 1000 : 0;
	return x;
}

static struct verdict run(const struct act_facts *f, const struct dob_act *a)
{
	struct verdict v;

	memset(&v, 0xAA, sizeof(v));
	decide_act(f, a, &v);
	return v;
}

#define REFUSED(v, st) \
	do { \
		cr_assert_eq((v).kind, V_REFUSE); \
		cr_assert_eq((v).status, (st), "status %d, want %d (%s)", (v).status, (st), \
			     (v).reason); \
		cr_assert_neq((v).reason[0], '\0', "a refusal says why"); \
	} while (0)

Test(decide, a_pending_episode_runs_the_first_valid_action)
{
	struct act_facts f = facts();
	struct dob_act a = act(DOB_ACTION_CANCEL, 7);

	cr_assert_eq(run(&f, &a).kind, V_RUN);
	a = act(DOB_ACTION_RESUME_AFTER_DELAY, 7);
	cr_assert_eq(run(&f, &a).kind, V_SCHEDULE);
	a = act(DOB_ACTION_RESUME, 0); /* episode 0: whatever the episode */
	cr_assert_eq(run(&f, &a).kind, V_RUN);
}

Test(decide, every_claimed_phase_holds_a_second_act_never_refuses_or_runs_it)
{
	for (int ph = CLAIM_SCHEDULED; ph <= CLAIM_PHASE_MAX; ph++)
		for (int ac = 1; ac <= DOB_ACTION_MAX; ac++) {
			struct act_facts f = facts();
			struct dob_act a = act(ac, ac % 2 ? 7 : 0);
			struct verdict v;
			f.phase = ph;
			v = run(&f, &a);
			cr_expect_eq(v.kind, V_HOLD, "phase %s action %d: %d", claim_phase_name(ph),
				     ac, v.kind);
		}
}

Test(decide, a_held_act_still_counts_against_the_in_flight_limit)
{
	struct act_facts f = facts();
	struct dob_act a = act(DOB_ACTION_CANCEL, 7);

	f.phase = CLAIM_INFLIGHT;
	f.inflight = 4;
	REFUSED(run(&f, &a), DOB_STATUS_LIMIT_EXCEEDED);
}

Test(decide, refusals_in_order)
{
	struct act_facts f;
	struct dob_act a;

	f = facts();
	f.access = DOB_STATUS_NOT_CONTROLLER;
	a = act(DOB_ACTION_CANCEL, 7);
	REFUSED(run(&f, &a), DOB_STATUS_NOT_CONTROLLER);

	f = facts();
	f.job_managed = false;
	REFUSED(run(&f, &a), DOB_STATUS_UNKNOWN_JOB);
	f.in_history = true;
	cr_assert_eq(run(&f, &a).kind, V_ALREADY, "gone, but the winner is known");
	f.access = DOB_STATUS_UNKNOWN_JOB;
	REFUSED(run(&f, &a), DOB_STATUS_UNKNOWN_JOB);

	f = facts();
	f.access = DOB_STATUS_UNKNOWN_JOB; /* another user's job */
	REFUSED(run(&f, &a), DOB_STATUS_UNKNOWN_JOB);

	f = facts();
	a = act(0, 7);
	REFUSED(run(&f, &a), DOB_STATUS_INVALID_ARGUMENT);
	a = act(DOB_ACTION_MAX + 1, 7);
	REFUSED(run(&f, &a), DOB_STATUS_INVALID_ARGUMENT);
	a = act(DOB_ACTION_RESUME_AFTER_DELAY, 7);
	a.delay_ms = 0;
	REFUSED(run(&f, &a), DOB_STATUS_INVALID_ARGUMENT);
	a.delay_ms = DOB_MAX_DELAY_MS + 1;
	REFUSED(run(&f, &a), DOB_STATUS_INVALID_ARGUMENT);

	f = facts();
	a = act(DOB_ACTION_CANCEL, 8); /* not this episode */
	REFUSED(run(&f, &a), DOB_STATUS_NO_EPISODE);
	f.in_history = true;
	cr_assert_eq(run(&f, &a).kind, V_ALREADY);

	f = facts();
	f.type = DOB_JOB_UPLOAD;
	a = act(DOB_ACTION_COMPLETE, 7); /* an upload cannot be partially completed */
	REFUSED(run(&f, &a), DOB_STATUS_FORBIDDEN_ACTION);

	f = facts();
	f.journal_full = true;
	a = act(DOB_ACTION_CANCEL, 7);
	REFUSED(run(&f, &a), DOB_STATUS_UNAVAILABLE);

	f = facts();
	f.inflight = 4;
	REFUSED(run(&f, &a), DOB_STATUS_LIMIT_EXCEEDED);
	a = act(DOB_ACTION_RESUME_AFTER_DELAY, 7);
	REFUSED(run(&f, &a), DOB_STATUS_LIMIT_EXCEEDED);
}

Test(decide, every_state_and_action_of_a_pending_episode_is_run_or_refused_never_held)
{
	for (int st = 0; st <= DOB_STATE_MAX; st++)
		for (int ac = 1; ac <= DOB_ACTION_MAX; ac++) {
			struct act_facts f = facts();
			struct dob_act a = act(ac, 7);
			struct verdict v;
			f.state = st;
			v = run(&f, &a);
			cr_expect(v.kind == V_RUN || v.kind == V_SCHEDULE ||
					  (v.kind == V_REFUSE && v.status == DOB_STATUS_FORBIDDEN_ACTION),
				  "state %d action %d: kind %d", st, ac, v.kind);
		}
}
