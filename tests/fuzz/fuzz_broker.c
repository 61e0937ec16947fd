/*
 * tests/fuzz/fuzz_broker.c - libFuzzer target: the whole broker core
 * (broker/core/) on the fake platform (tests/fakes/fake_plat.c), its journal
 * on the in-memory files of tests/fuzz/support/mem_files.c, behind a
 * scripted backend (tests/fuzz/support/fuzz_backend.c) or the sim.
 *
 * The input (format: tests/fuzz/support/broker_input.h) chooses who the
 * fuzzed client is, the broker's limits, timeouts and policy, what the
 * journal and the backend hold at start, and then a stream of operations:
 * bytes delivered to the connection in chunks of its choosing, clock
 * advances, backend callbacks, held or failed backend results, stalls,
 * reconnections, a journal whose disk fills up.
 *
 * What must hold, checked after every operation and at the end:
 *   - every byte the broker sends any client decodes, and nothing follows a
 *     ProtocolError, after which the connection is closed;
 *   - the broker's pending count is the number of pending episodes it holds;
 *   - a pending episode never disappears without a Resolution: a privileged
 *     observer (the watcher) connected from the start receives one for it,
 *     and the resolved history has it; the watcher hears of every pending
 *     episode, of none twice, and of no Resolution twice;
 *   - at the end a new client gets Welcome (counting every pending episode,
 *     each then replayed) and a Pong for its Ping;
 *   - optionally, a broker restarted on the journal holds exactly the same
 *     pending episodes and never reuses an episode id (after a full disk:
 *     every journaled pending episode, and nothing that never was pending);
 *   - nothing leaks (dob_alloc_live, and LeakSanitizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "broker.h"
#include "broker_int.h"
#include "config.h"
#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "fake_plat.h"
#include "journal.h"
#include "log.h"
#include "platform.h"
#include "scenario.h"
#include "support/broker_input.h"
#include "support/check.h"
#include "support/fuzz_backend.h"
#include "support/mem_files.h"

#define DIR "/fuzz"
#define MAX_CLOCK_MS (15 * 60 * 1000) /* simulated time per input */

static const int64_t clock_ms[16] = FB_CLOCK_MS;
static const uint32_t hresults[16] = FB_HRESULTS;
static const int64_t disk_bytes[16] = FB_DISK_BYTES;

/* ---------------------------------------------------------------- identities */

enum { ID_WATCHER = 4, ID_PROBE = 5 };

static struct dob_identity identity(int which)
{
	struct dob_identity id;

	memset(&id, 0, sizeof(id));
	id.pid = 10 + (uint32_t)which;
	switch (which) {
	case FB_ID_PRIVILEGED:
		id.user_sid = "S-1-5-18";
		id.privileged = true;
		break;
	case FB_ID_USER:
		id.uid = 1000;
		id.user_sid = "S-1-5-21-1000";
		break;
	case FB_ID_OTHER:
		id.uid = 1001;
		id.user_sid = "S-1-5-21-1001";
		break;
	case FB_ID_SANDBOXED:
		id.uid = 1000;
		id.user_sid = "S-1-5-21-1000";
		id.appcontainer_sid = "S-1-15-2-1";
		id.sandboxed = true;
		id.integrity_rid = 0x1000;
		break;
	case ID_WATCHER:
		id.user_sid = "S-1-5-32-544";
		id.privileged = true;
		break;
	default:
		id.user_sid = "S-1-5-32-545";
		id.privileged = true;
		break;
	}
	return id;
}

static struct dob_guid job_guid(unsigned n)
{
	struct dob_guid g;

	memset(&g, 0, sizeof(g));
	g.b[0] = FB_GUID_TAG;
	g.b[15] = (uint8_t)n;
	return g;
}

/* ---------------------------------------------------------------- id sets */

/* A set of episode ids (a lying backend can make tens of thousands in one
 * input): the ids in insertion order, and a hash table of them. Plain
 * malloc: the harness's memory, outside the allocation hook. */
struct idset {
	uint64_t *v;
	size_t n, cap;
	uint64_t *slot;  /* open addressing; id + 1, 0 = empty */
	size_t nslot;    /* a power of two */
};

static size_t slot_of(const struct idset *s, uint64_t id)
{
	size_t i = (size_t)((id + 1) * 0x9E3779B97F4A7C15ull) & (s->nslot - 1);

	while (s->slot[i] && s->slot[i] != id + 1)
		i = (i + 1) & (s->nslot - 1);
	return i;
}

static bool has(const struct idset *s, uint64_t id)
{
	return s->nslot && s->slot[slot_of(s, id)] == id + 1;
}

static void add(struct idset *s, uint64_t id)
{
	if (has(s, id))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		CHECK(s->v);
	}
	if (2 * (s->n + 1) > s->nslot) {
		free(s->slot);
		s->nslot = s->nslot ? s->nslot * 2 : 128;
		s->slot = calloc(s->nslot, sizeof(*s->slot));
		CHECK(s->slot);
		for (size_t i = 0; i < s->n; i++)
			s->slot[slot_of(s, s->v[i])] = s->v[i] + 1;
	}
	s->v[s->n++] = id;
	s->slot[slot_of(s, id)] = id + 1;
}

static void idset_clear(struct idset *s)
{
	s->n = 0;
	if (s->slot)
		memset(s->slot, 0, s->nslot * sizeof(*s->slot));
}

static void idset_free(struct idset *s)
{
	free(s->v);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

static void idset_swap(struct idset *a, struct idset *b)
{
	struct idset t = *a;

	*a = *b;
	*b = t;
}

/* ---------------------------------------------------------------- clients */

enum peer_kind { PEER_FUZZ, PEER_WATCHER, PEER_PROBE };

struct peer {
	enum peer_kind kind;
	struct plat_conn *c;      /* borrowed from the fake loop; NULL when unused */
	struct dob_decoder dec;
	bool perr;                /* a ProtocolError arrived */
	/* watcher */
	struct idset announced, resolved;
	/* probe */
	int welcomes;
	uint32_t welcome_pending;
	uint64_t replays, pongs, pong_nonce;
};

struct run {
	const uint8_t *in;
	size_t n, pos;
	uint8_t who, limits, times, state;
	struct broker_config cfg;
	struct fzb_world world;
	struct broker *b;
	struct plat_loop *loop;
	struct peer watcher, fuzz[2], probe;
	unsigned cur;             /* fuzz[cur] gets the data */
	int64_t clock_used;
	struct idset pending;     /* as of the last check */
	struct idset journaled;   /* of those, the ones in the journal */
	struct idset ever;        /* every episode id that was pending */
	struct idset now, now_journaled, after; /* scratch */
	uint64_t max_episode;     /* highest episode id ever pending */
	uint64_t next_episode;    /* the stopped broker's next id */
	bool disk_full;           /* the disk was limited at some point */
	bool watched;             /* the watcher stayed to the end */
};

static void on_msg(struct run *r, struct peer *p, struct dob_msg *m)
{
	CHECK(!p->perr); /* nothing follows a ProtocolError */
	if (m->type == DOB_MSG_PROTOCOL_ERROR) {
		p->perr = true;
		return;
	}
	if (p->kind == PEER_WATCHER) {
		if (m->type == DOB_MSG_JOB_ERROR) {
			uint64_t id = m->u.job_error.episode_id;

			/* one event per episode; replays only of what was pending */
			if (!m->u.job_error.replayed)
				CHECK(!has(&p->announced, id));
			CHECK(!has(&p->resolved, id));
			add(&p->announced, id);
		} else if (m->type == DOB_MSG_RESOLUTION) {
			uint64_t id = m->u.resolution.episode_id;

			CHECK(has(&p->announced, id)); /* resolved what it was told of */
			CHECK(!has(&p->resolved, id)); /* resolved once */
			add(&p->resolved, id);
		}
	} else if (p->kind == PEER_PROBE) {
		if (m->type == DOB_MSG_WELCOME) {
			CHECK(p->welcomes == 0 && p->pongs == 0);
			p->welcomes++;
			p->welcome_pending = m->u.welcome.pending_episodes;
		} else if (m->type == DOB_MSG_JOB_ERROR && m->u.job_error.replayed) {
			p->replays++;
		} else if (m->type == DOB_MSG_PONG) {
			p->pongs++;
			p->pong_nonce = m->u.ping.nonce;
		}
	}
}

/* Decodes whatever p received: the broker sends only valid frames. */
static void drain(struct run *r, struct peer *p)
{
	const uint8_t *b;
	size_t n;

	if (!p->c)
		return;
	n = fake_conn_take(p->c, &b);
	while (n > 0) {
		struct dob_codec_error e;
		struct dob_msg m;
		size_t used = 0;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = dob_decoder_feed(&p->dec, b, n, &used, &m, &e);
		if (rc < 0)
			fprintf(stderr, "fuzz_broker: the broker sent a bad frame: %s\n", e.reason);
		CHECK(rc >= 0);
		CHECK(used <= n);
		b += used;
		n -= used;
		if (rc == 1) {
			on_msg(r, p, &m);
			dob_msg_clear(&m);
		}
	}
	/* after a ProtocolError the broker closes */
	if (p->perr)
		CHECK(fake_conn_is_closed(p->c));
}

static bool watcher_alive(const struct run *r)
{
	return r->watcher.c && !r->watcher.perr && !fake_conn_is_closed(r->watcher.c);
}

static void peer_connect(struct run *r, struct peer *p, enum peer_kind kind, int who)
{
	struct dob_identity id = identity(who);

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	dob_decoder_init(&p->dec, DOB_MAX_FRAME_CEILING);
	p->c = fake_connect(r->loop, &id);
	CHECK(p->c);
}

static void peer_free(struct peer *p)
{
	if (p->c)
		dob_decoder_free(&p->dec);
	p->c = NULL;
	idset_free(&p->announced);
	idset_free(&p->resolved);
}

static void send_msg(struct plat_conn *c, const struct dob_msg *m)
{
	struct dob_codec_error e;
	uint8_t *buf;
	size_t len;

	CHECK(dob_encode(m, DOB_MAX_FRAME_CEILING, &buf, &len, &e) == 0);
	fake_conn_send(c, buf, len);
	dob_free(buf);
}

static void send_hello(struct plat_conn *c, const char *name, enum dob_role role)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_HELLO;
	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = (char *)name;
	m.u.hello.role = role;
	send_msg(c, &m);
}

static enum dob_role fuzz_role(const struct run *r)
{
	return r->who & FB_WHO_CONTROLLER ? DOB_ROLE_CONTROLLER : DOB_ROLE_OBSERVER;
}

/* ---------------------------------------------------------------- invariants */

/* The pending episodes of b; journaled (optional) gets those whose
 * latest version is in the journal. */
static void pending_now(const struct broker *b, struct idset *s, struct idset *journaled)
{
	idset_clear(s);
	if (journaled)
		idset_clear(journaled);
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (const struct mjob *j = b->jobs[i]; j; j = j->next)
			if (j->ep) {
				CHECK(j->ep->job == j);
				CHECK(!has(s, j->ep->id)); /* ids are unique */
				add(s, j->ep->id);
				if (journaled && j->ep->journaled)
					add(journaled, j->ep->id);
			}
	CHECK(s->n == b->n_pending);
	CHECK(broker_pending_count(b) == b->n_pending);
}

static void settle(struct run *r)
{
	struct idset *now = &r->now, *journaled = &r->now_journaled;
	bool alive;

	fake_pump(r->loop);
	drain(r, &r->watcher);
	for (int i = 0; i < 2; i++)
		drain(r, &r->fuzz[i]);
	alive = watcher_alive(r);
	pending_now(r->b, now, journaled);
	for (size_t i = 0; i < r->pending.n; i++) {
		uint64_t id = r->pending.v[i];

		if (has(now, id))
			continue;
		/* gone from the pending set: resolved, and said so */
		CHECK(history_find(r->b, id) != NULL);
		if (alive)
			CHECK(has(&r->watcher.resolved, id));
	}
	for (size_t i = 0; i < now->n; i++) {
		add(&r->ever, now->v[i]);
		if (now->v[i] > r->max_episode)
			r->max_episode = now->v[i];
		if (alive) /* every pending episode was announced */
			CHECK(has(&r->watcher.announced, now->v[i]));
	}
	idset_swap(&r->pending, now);
	idset_swap(&r->journaled, journaled);
}

/* ---------------------------------------------------------------- setup */

static void configure(struct run *r)
{
	static const uint32_t max_frame[4] = { 1024, 4096, 65536, 1024 };
	static const uint32_t soft[4] = { 2, 8, 1024, 1 }, hard[4] = { 4, 16, 8192, 2 };
	static const uint32_t sweep[4] = { 100, 1000, 5000, 60000 };
	static const uint32_t act_to[4] = { 100, 1000, 30000, 5000 };
	static const uint32_t hs_to[4] = { 100, 1000, 5000, 60000 };
	static const uint32_t deadline[4] = { 0, 500, 5000, 300000 };
	static const enum dob_policy_kind kinds[4] = {
		DOB_POLICY_NONE, DOB_POLICY_RESUME, DOB_POLICY_CANCEL, DOB_POLICY_COMPLETE,
	};
	struct broker_config *c = &r->cfg;

	config_defaults(c);
	c->state_dir = dob_strdup(DIR);
	c->endpoint = dob_strdup("fuzz");
	CHECK(c->state_dir && c->endpoint);
	c->max_frame = max_frame[r->limits & 3];
	c->queue_soft_limit = soft[(r->limits >> 2) & 3];
	c->queue_hard_limit = hard[(r->limits >> 2) & 3];
	c->max_inflight_requests = r->limits & 0x10 ? 1 : 64;
	c->max_jobs_per_identity = r->limits & 0x20 ? 1 : 256;
	c->max_conns_per_identity = r->limits & 0x40 ? 1 : 64;
	c->rate_limit = r->limits & 0x80 ? 10 : 0;
	c->rate_burst = 4;
	c->sweep_interval_ms = sweep[r->times & 3];
	c->action_timeout_ms = act_to[(r->times >> 2) & 3];
	c->handshake_timeout_ms = hs_to[(r->times >> 4) & 3];
	c->default_deadline_ms = deadline[(r->times >> 6) & 3];
	c->default_policy.kind = kinds[r->state & 3];
	c->default_policy.max_resumes = r->state & 4 ? 1 : 3;
	c->default_policy.backoff_ms = 100;
	c->default_policy.exhausted = DOB_POLICY_CANCEL;
	c->journal_compact_bytes = r->who & FB_WHO_COMPACT ? 256 : 0;
}

static int nop_apply(void *ctx, struct dob_jrec *rec)
{
	return 0;
}

static void put(struct journal *j, const struct dob_jrec *rec)
{
	CHECK(journal_append(j, rec) == 0);
}

/* The journal a previous broker left: three jobs, some pending episodes, a
 * past decision. */
static void preload_journal(struct run *r)
{
	static const char *const names[3] = { "job0", "job1", "job2" };
	static const int owners[3] = { FB_ID_USER, FB_ID_OTHER, FB_ID_SANDBOXED };
	struct journal_opts o = { .dir = DIR };
	struct journal_replay_info info;
	int64_t now_us = plat_wall_us();
	struct journal *j = NULL;
	struct dob_jrec rec;

	CHECK(journal_open(&o, nop_apply, NULL, &j, &info) == 0);
	for (unsigned k = 0; k < 3; k++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = DOB_JREC_JOB;
		rec.u.job.job_id = job_guid(FB_JOB0 + k);
		rec.u.job.owner = identity(owners[k]);
		rec.u.job.display_name = (char *)names[k];
		put(j, &rec);
	}
	for (unsigned k = 0; k < 3; k++) {
		struct dob_job_error *ev = &rec.u.episode.event;
		bool pending = k == 1 ? r->state & FB_STATE_EP_1 : r->state & FB_STATE_EP_0_2;

		if (!pending)
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.type = DOB_JREC_EPISODE;
		rec.u.episode.episode_id = 1 + k;
		ev->job.job_id = job_guid(FB_JOB0 + k);
		ev->job.display_name = (char *)names[k];
		ev->job.state = DOB_STATE_ERROR;
		ev->error.context = DOB_CONTEXT_REMOTE_FILE;
		ev->error.hresult = 0x80190194u;
		ev->error.description = "Not Found";
		ev->episode_id = 1 + k;
		ev->first_seen_us = ev->last_seen_us = now_us - 1000000;
		ev->backend = DOB_BACKEND_SIM;
		ev->default_policy = r->cfg.default_policy;
		ev->default_policy.deadline_ms = r->cfg.default_deadline_ms;
		ev->deadline_us = r->cfg.default_deadline_ms
					  ? ev->first_seen_us + (int64_t)r->cfg.default_deadline_ms * 1000
					  : 0;
		put(j, &rec);
	}
	memset(&rec, 0, sizeof(rec));
	rec.type = DOB_JREC_DECISION;
	rec.u.decision.episode_id = FB_PAST_EPISODE;
	rec.u.decision.resolution.job_id = job_guid(FB_JOB0);
	rec.u.decision.resolution.episode_id = FB_PAST_EPISODE;
	rec.u.decision.resolution.action = DOB_ACTION_RESUME;
	rec.u.decision.resolution.resolved_by = DOB_RESOLVED_CONTROLLER;
	rec.u.decision.resolution.actor.session_id = 1;
	rec.u.decision.resolution.actor.client_name = "earlier";
	rec.u.decision.resolution.new_state = DOB_STATE_QUEUED;
	put(j, &rec);
	memset(&rec, 0, sizeof(rec));
	rec.type = DOB_JREC_COUNTERS;
	rec.u.counters.next_episode_id = FB_NEXT_EPISODE;
	put(j, &rec);
	journal_close(j);
}

static enum dob_job_state preload_state(const struct run *r, unsigned k)
{
	bool pending = k == 1 ? r->state & FB_STATE_EP_1 : r->state & FB_STATE_EP_0_2;

	if (!pending)
		return DOB_STATE_TRANSFERRING;
	return r->who & FB_WHO_STILL_ERROR ? DOB_STATE_ERROR : DOB_STATE_QUEUED;
}

/* The sim playing the preloaded jobs, and errors for submitted ones. */
static struct backend *sim_backend(const struct run *r)
{
	static const char *const st[] = {
		[DOB_STATE_QUEUED] = "queued", [DOB_STATE_TRANSFERRING] = "transferring",
		[DOB_STATE_ERROR] = "error",
	};
	struct scenario *scn = NULL;
	struct backend *be = NULL;
	char text[2048], err[512];
	size_t len;

	len = (size_t)snprintf(text, sizeof(text),
			       "seed 7\nrepeat 200ms..700ms\nmodifications on\n"
			       "rule https://h/ok* ok after=300ms\n"
			       "rule https://h/slow* hang\n"
			       "rule * error http=404 after=100ms times=2 bytes=1K size=2K\n"
			       "fault act * delay=50 count=2\n");
	if (r->state & FB_STATE_JOBS)
		for (unsigned k = 0; k < 3; k++) {
			struct dob_guid g = job_guid(FB_JOB0 + k);
			char gs[DOB_GUID_STR_LEN];

			dob_guid_format(&g, gs);
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"job %s name=job%u state=%s%s\n"
						"file %s https://h/f%u /fuzz/f%u\n", gs, k,
						st[preload_state(r, k)],
						preload_state(r, k) == DOB_STATE_ERROR ? " http=500"
										       : "",
						gs, k, k);
		}
	len += (size_t)snprintf(text + len, sizeof(text) - len, "at 1s #1 error http=503\n");
	CHECK(len < sizeof(text));
	if (scenario_parse(text, len, "fuzz.txt", &scn, err, sizeof(err))) {
		fprintf(stderr, "fuzz_broker: scenario: %s\n", err);
		CHECK(0);
	}
	CHECK(sim_backend_from_scenario(&be, scn) == 0);
	return be;
}

static void start_broker(struct run *r, struct backend *be)
{
	struct plat_handlers h;
	char err[256] = "";

	CHECK(broker_new(&r->b, &r->cfg, be) == 0);
	broker_handlers(r->b, &h);
	CHECK(plat_loop_new(&r->loop, &h) == 0);
	if (broker_start(r->b, r->loop, err, sizeof(err))) {
		fprintf(stderr, "fuzz_broker: start: %s\n", err);
		CHECK(0);
	}
}

static void setup(struct run *r)
{
	struct backend *be;

	configure(r);
	fake_plat_reset();
	fake_path_rule("/denied", -DOB_EACCES);
	fake_path_rule("/missing", -DOB_ENOTFOUND);
	fzb_world_reset(&r->world);
	if (r->state & FB_STATE_JOBS) {
		preload_journal(r);
		for (unsigned k = 0; k < 3; k++) {
			struct dob_guid g = job_guid(FB_JOB0 + k);

			CHECK(fzb_add(&r->world, &g, k == 0 ? "job0" : k == 1 ? "job1" : "job2",
				      DOB_JOB_DOWNLOAD, preload_state(r, k)));
		}
	}
	if (r->state & FB_STATE_SIM) {
		be = sim_backend(r);
	} else {
		be = fzb_new(&r->world);
		r->world.hold_acts = r->who & FB_WHO_HOLD_ACTS;
	}
	start_broker(r, be);
	fake_pump(r->loop);

	/* the watcher: a privileged observer from the start */
	peer_connect(r, &r->watcher, PEER_WATCHER, ID_WATCHER);
	send_hello(r->watcher.c, "watcher", DOB_ROLE_OBSERVER);
	/* the fuzzed client */
	peer_connect(r, &r->fuzz[0], PEER_FUZZ, r->who & 3);
	if (r->who & FB_WHO_HELLO)
		send_hello(r->fuzz[0].c, "fuzz", fuzz_role(r));
	if (r->state & FB_STATE_SECOND) {
		peer_connect(r, &r->fuzz[1], PEER_FUZZ, FB_ID_OTHER);
		send_hello(r->fuzz[1].c, "second", DOB_ROLE_CONTROLLER);
	}
	settle(r);
}

/* ---------------------------------------------------------------- operations */

static bool take(struct run *r, uint8_t *v)
{
	if (r->pos >= r->n)
		return false;
	*v = r->in[r->pos++];
	return true;
}

static void op_data(struct run *r, size_t len)
{
	struct peer *p = &r->fuzz[r->cur];

	if (len > r->n - r->pos)
		len = r->n - r->pos;
	if (p->c && len)
		fake_conn_send(p->c, r->in + r->pos, len);
	r->pos += len;
}

static void op_event(struct run *r, uint8_t param)
{
	static const enum dob_job_state states[8] = {
		DOB_STATE_QUEUED, DOB_STATE_CONNECTING, DOB_STATE_TRANSFERRING,
		DOB_STATE_SUSPENDED, DOB_STATE_TRANSIENT_ERROR, DOB_STATE_TRANSFERRED,
		DOB_STATE_ACKNOWLEDGED, DOB_STATE_CANCELLED,
	};
	struct fzb_world *w = &r->world;
	uint8_t arg;
	unsigned i;

	if (!take(r, &arg) || r->state & FB_STATE_SIM)
		return;
	i = arg & 15;
	switch ((arg >> 4) & 3) {
	case 0:
		if (i >= w->n_jobs)
			return;
		w->jobs[i].state = DOB_STATE_ERROR;
		w->jobs[i].hr = hresults[param] ? hresults[param] : 0x80190194u;
		fzb_event(w, i, BACKEND_EV_ERROR);
		break;
	case 1:
		if (i >= w->n_jobs)
			return;
		w->jobs[i].state = DOB_STATE_TRANSFERRED;
		fzb_event(w, i, BACKEND_EV_TRANSFERRED);
		break;
	case 2:
		if (i >= w->n_jobs)
			return;
		if (param < 8)
			w->jobs[i].state = states[param];
		fzb_event(w, i, BACKEND_EV_MODIFIED);
		break;
	default:
		fzb_event(w, 0, BACKEND_EV_MISSED);
		break;
	}
}

static void op_reconnect(struct run *r, uint8_t param)
{
	struct peer *p = &r->fuzz[r->cur];

	if (p->c) {
		drain(r, p);
		fake_conn_hangup(p->c);
		peer_free(p);
	}
	peer_connect(r, p, PEER_FUZZ, param & 3);
	if (param & 4)
		send_hello(p->c, "fuzz-again", fuzz_role(r));
}

static void run_ops(struct run *r)
{
	uint8_t op, a, b;

	while (take(r, &op)) {
		uint8_t param = op >> 4;
		struct fzb_world *w = &r->world;
		bool fake = !(r->state & FB_STATE_SIM);

		switch (op & 15) {
		case FB_OP_DATA:
			if (take(r, &a))
				op_data(r, a);
			break;
		case FB_OP_DATA_LONG:
			if (take(r, &a) && take(r, &b))
				op_data(r, (size_t)a | (size_t)b << 8);
			break;
		case FB_OP_CLOCK:
			if (r->clock_used + clock_ms[param] <= MAX_CLOCK_MS) {
				r->clock_used += clock_ms[param];
				fake_clock_advance(r->loop, clock_ms[param]);
			}
			break;
		case FB_OP_EVENT:
			op_event(r, param);
			break;
		case FB_OP_SET_STATE:
			if (take(r, &a) && fake && (a & 15) < w->n_jobs)
				w->jobs[a & 15].state = (enum dob_job_state)(param % 9);
			break;
		case FB_OP_HOLD:
			w->hold_acts = param & 1;
			w->hold_other = param & 2;
			break;
		case FB_OP_RELEASE:
			fzb_release(w, param & 1);
			break;
		case FB_OP_ACT_HR:
			w->act_hr = hresults[param];
			break;
		case FB_OP_GONE:
			if (take(r, &a) && fake && (a & 15) < w->n_jobs)
				w->jobs[a & 15].gone = true;
			break;
		case FB_OP_STALL:
			if (r->fuzz[r->cur].c)
				fake_conn_stall(r->fuzz[r->cur].c, param & 1);
			break;
		case FB_OP_RECONNECT:
			op_reconnect(r, param);
			break;
		case FB_OP_SWITCH:
			if (r->fuzz[param & 1].c)
				r->cur = param & 1;
			break;
		case FB_OP_DISK:
			mem_files_set_space(disk_bytes[param]);
			if (disk_bytes[param] >= 0)
				r->disk_full = true;
			break;
		default: /* FB_OP_PUMP and the rest */
			break;
		}
		settle(r);
	}
}

/* ---------------------------------------------------------------- the end */

/* A new client says Hello and Ping: Welcome (every pending episode counted
 * and replayed) and Pong come back. */
static void probe(struct run *r)
{
	struct dob_msg m;

	for (int i = 0; i < 2; i++)
		if (r->fuzz[i].c)
			fake_conn_stall(r->fuzz[i].c, false);
	mem_files_set_space(-1);
	settle(r);
	peer_connect(r, &r->probe, PEER_PROBE, ID_PROBE);
	send_hello(r->probe.c, "probe", DOB_ROLE_CONTROLLER);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_PING;
	m.correlation_id = 77;
	m.u.ping.nonce = 0x5eed;
	send_msg(r->probe.c, &m);
	fake_pump(r->loop);
	drain(r, &r->probe);
	if (r->probe.perr || r->probe.welcomes != 1 || r->probe.pongs != 1)
		fprintf(stderr, "fuzz_broker: probe: perr %d welcomes %d pongs %llu\n",
			r->probe.perr, r->probe.welcomes, (unsigned long long)r->probe.pongs);
	CHECK(!r->probe.perr && r->probe.welcomes == 1 && r->probe.pongs == 1);
	CHECK(r->probe.pong_nonce == 0x5eed);
	CHECK(r->probe.welcome_pending == broker_pending_count(r->b));
	CHECK(r->probe.replays == r->probe.welcome_pending);
	settle(r);
}

static void stop_broker(struct run *r)
{
	fake_pump(r->loop);
	r->next_episode = r->b->next_episode_id;
	broker_free(r->b);
	plat_loop_free(r->loop); /* posts still queued are dropped */
	r->b = NULL;
	r->loop = NULL;
}

/* A broker restarted on the journal holds the same pending episodes, and
 * never hands out an id it used. Its backend answers nothing, so what it
 * holds is what it read. After a full disk (docs/reliability.md, known
 * gaps) only this holds: every pending episode that was journaled is back,
 * and nothing comes back that was never published (an episode decided
 * while the disk was full may come back). */
static void restart(struct run *r)
{
	const struct idset *before = &r->pending, *journaled = &r->journaled;
	struct idset *after = &r->after;

	r->world.hold_acts = r->world.hold_other = true;
	start_broker(r, fzb_new(&r->world));
	r->world.hold_acts = r->world.hold_other = true;
	pending_now(r->b, after, NULL);
	for (size_t i = 0; i < journaled->n; i++)
		CHECK(has(after, journaled->v[i]));
	for (size_t i = 0; i < after->n; i++) {
		CHECK(after->v[i] < r->next_episode);
		/* the watcher saw every episode published while it was there */
		if (r->watched)
			CHECK(has(&r->ever, after->v[i]) ||
			      has(&r->watcher.announced, after->v[i]));
	}
	if (!r->disk_full) {
		CHECK(after->n == before->n);
		for (size_t i = 0; i < before->n; i++)
			CHECK(has(after, before->v[i]));
		CHECK(r->b->next_episode_id > r->max_episode);
	}
	stop_broker(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run run;
	struct run *r = &run;
	int64_t live = dob_alloc_live();

	if (size < FB_HDR_LEN)
		return 0;
	/* FUZZ_BROKER_LOG=1 shows the broker's log (triage) */
	dob_log_set_level(getenv("FUZZ_BROKER_LOG") ? DOB_LOG_DEBUG : DOB_LOG_ERROR);
	memset(r, 0, sizeof(*r));
	r->in = data;
	r->n = size;
	r->who = data[0];
	r->limits = data[1];
	r->times = data[2];
	r->state = data[3];
	r->pos = FB_HDR_LEN;
	mem_files_reset();

	setup(r);
	run_ops(r);
	probe(r);
	r->watched = watcher_alive(r);
	stop_broker(r);
	if (r->who & FB_WHO_RESTART)
		restart(r);

	peer_free(&r->watcher);
	peer_free(&r->fuzz[0]);
	peer_free(&r->fuzz[1]);
	peer_free(&r->probe);
	idset_free(&r->pending);
	idset_free(&r->journaled);
	idset_free(&r->ever);
	idset_free(&r->now);
	idset_free(&r->now_journaled);
	idset_free(&r->after);
	fzb_world_reset(&r->world);
	config_clear(&r->cfg);
	mem_files_reset();
	if (dob_alloc_live() != live)
		fprintf(stderr, "fuzz_broker: %lld dob blocks leaked\n",
			(long long)(dob_alloc_live() - live));
	CHECK(dob_alloc_live() == live);
	return 0;
}
