/*
 * client/dobctl_watch.c - dobctl's commands on the event stream: watch
 * (print events, answer JobErrors: a fixed action, a question on the
 * terminal, or an --exec command's reply; reconnect with backoff) and top
 * (the live view of dobctl_top.c, fed by ListJobs, GetStats and events).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "dobctl_int.h"
#include "dobctl_util.h"
#include "dobctl_top.h"
#include "spawn_cmd.h"
#include "transport.h"

#define DEFAULT_EXEC_TIMEOUT_MS 60000
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define EXEC_POLL_MS 20 /* how often running --exec commands are looked at */

/* ---------------------------------------------------------------- watch */

enum reply_mode { REPLY_NONE, REPLY_FIXED, REPLY_ASK, REPLY_EXEC };

/* A JobError waiting for its --exec command, or whose command runs. */
struct job {
	struct job *next;         /* owned */
	struct dob_msg ev;        /* owned: the JobError */
	struct spawn_child *ch;   /* owned; NULL while it waits */
};

struct watch {
	const struct global *g;
	enum reply_mode mode;
	enum dob_action action;   /* REPLY_FIXED */
	const char *exec;         /* REPLY_EXEC */
	int exec_timeout_ms;
	int exec_concurrency;
	uint64_t count;           /* 0 = no limit */
	uint64_t printed;
	bool reconnect;
	bool stdin_done;          /* REPLY_ASK: stdin hit end of file */
	struct dob_filter filter;
	struct dobc *c;           /* owned; NULL while reconnecting */
	struct dobctl_seen *seen; /* owned */
	struct job *running;      /* owned list: commands running */
	struct job *waiting;      /* owned list: errors waiting for a command */
	int n_running;
	struct jsonw w;
};

/* Asks yes/no on the terminal. Returns 1 yes, 0 no, -1 end of input. */
static int ask_yes_no(const char *question)
{
	char line[64];

	for (;;) {
		fprintf(stderr, "%s [y/n] ", question);
		fflush(stderr);
		if (!fgets(line, sizeof line, stdin))
			return -1;
		if (line[0] == 'y' || line[0] == 'Y')
			return 1;
		if (line[0] == 'n' || line[0] == 'N')
			return 0;
		fprintf(stderr, "please answer y or n\n");
	}
}

static enum dob_action ask_action(struct watch *wa, const struct dob_job_error *e)
{
	static const enum dob_action order[] = { DOB_ACTION_RESUME, DOB_ACTION_CANCEL,
						 DOB_ACTION_COMPLETE, DOB_ACTION_SUSPEND };
	char g[DOB_GUID_STR_LEN], q[160];
	size_t i;

	if (wa->stdin_done)
		return DOB_ACTION_UNSPECIFIED;
	dob_guid_format(&e->job.job_id, g);
	for (i = 0; i < sizeof order / sizeof order[0]; i++) {
		int r;

		snprintf(q, sizeof q, "episode %" PRIu64 " of %s: %s?", e->episode_id, g,
			 dobctl_action_name(order[i]));
		r = ask_yes_no(q);
		if (r < 0) {
			dobctl_say("end of input: no more answers");
			wa->stdin_done = true;
			return DOB_ACTION_UNSPECIFIED;
		}
		if (r == 1)
			return order[i];
	}
	return DOB_ACTION_UNSPECIFIED;
}

/* Marks episode as settled: the broker answered dobctl's reply, or it was
 * resolved. */
static void settle(struct watch *wa, uint64_t episode)
{
	long at = dobctl_seen_find(wa->seen, episode);

	if (at >= 0)
		wa->seen->settled[at] = true;
}

/* Sends action for the JobError e and prints the broker's answer. Returns
 * 0, or the exit code when the connection is over (without --reconnect). */
static int send_reply(struct watch *wa, const struct dob_job_error *e, enum dob_action a,
		      uint32_t delay)
{
	struct dob_action_result res;
	char text[1024];
	int r;

	if (!wa->c)
		return 0; /* reconnecting: the replay brings it back */
	r = dobc_act(wa->c, &e->job.job_id, e->episode_id, a, delay, &res, wa->g->timeout_ms);
	if (r == 0 || r == -DOB_EREMOTE) {
		settle(wa, e->episode_id);
		if (wa->g->json) {
			dobctl_action_result_json(&wa->w, &e->job.job_id, e->episode_id, a, &res);
			dobctl_print_json(&wa->w);
		} else if (r == 0) {
			printf("  -> %s: OK, now %s (hr=0x%08" PRIX32 ")\n", dobctl_action_name(a),
			       dob_state_name(res.new_state), res.hresult);
		} else {
			dobctl_refusal_text(&res, text, sizeof text);
			printf("  -> %s: %s\n", dobctl_action_name(a), text);
		}
		fflush(stdout);
		dobc_action_result_clear(&res);
		return 0;
	}
	if (r == -DOB_ETIMEDOUT || r == -DOB_EINVAL) {
		dobctl_request_failed(wa->c, "act", r);
		return 0;
	}
	/* The connection is over: the main loop finds out and says why. */
	return 0;
}

/* The result of an --exec command, said in one message. Returns the
 * action to send (UNSPECIFIED: none) and its delay. */
static enum dob_action exec_result(struct watch *wa, int r, int code, const char *line,
				   uint32_t *delay)
{
	enum dob_action a = DOB_ACTION_UNSPECIFIED;
	char why[DOBCTL_WHY_MAX];

	*delay = 0;
	if (r == -DOB_ETIMEDOUT) {
		dobctl_say("--exec '%s' was killed after %d ms; no reply sent", wa->exec,
			   wa->exec_timeout_ms);
		return a;
	}
	if (dobctl_parse_reply(line, &a, delay, why, sizeof why) < 0) {
		if (code != 0)
			dobctl_say("--exec '%s' exited with status %d and printed '%s', which is not a reply "
				   "(%s); no reply sent", wa->exec, code, line, why);
		else
			dobctl_say("--exec '%s': %s; no reply sent", wa->exec, why);
		return DOB_ACTION_UNSPECIFIED;
	}
	if (code != 0 && a != DOB_ACTION_UNSPECIFIED)
		dobctl_say("--exec '%s' exited with status %d; its reply '%s' is sent all the same",
			   wa->exec, code, dobctl_action_name(a));
	else if (code != 0)
		dobctl_say("--exec '%s' exited with status %d without a reply; no reply sent", wa->exec,
			   code);
	return a;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	spawn_free(j->ch);
	dob_msg_clear(&j->ev);
	dob_free(j);
}

/* Is episode waiting or running already? */
static bool queued(const struct watch *wa, uint64_t episode)
{
	const struct job *j;

	for (j = wa->running; j; j = j->next)
		if (j->ev.u.job_error.episode_id == episode)
			return true;
	for (j = wa->waiting; j; j = j->next)
		if (j->ev.u.job_error.episode_id == episode)
			return true;
	return false;
}

/* Starts waiting commands while there is room. */
static void start_commands(struct watch *wa)
{
	while (wa->waiting && wa->n_running < wa->exec_concurrency) {
		struct job *j = wa->waiting;
		char why[DOBCTL_WHY_MAX];
		char **env = NULL;
		int r;

		wa->waiting = j->next;
		j->next = NULL;
		if (dobctl_exec_env(&j->ev, &env) < 0) {
			dobctl_say("--exec: out of memory; no reply sent");
			job_free(j);
			continue;
		}
		why[0] = '\0';
		r = spawn_start(wa->exec, (const char *const *)env, wa->exec_timeout_ms, &j->ch, why,
				sizeof why);
		dobctl_env_free(env);
		if (r < 0) {
			dobctl_say("--exec '%s': %s; no reply sent", wa->exec, why);
			job_free(j);
			continue;
		}
		j->next = wa->running;
		wa->running = j;
		wa->n_running++;
	}
}

/* Looks at the running commands; answers for those that ended. */
static void check_commands(struct watch *wa)
{
	struct job **pp = &wa->running;

	while (*pp) {
		struct job *j = *pp;
		enum dob_action a;
		uint32_t delay;
		int code = 0, r = spawn_check(j->ch, &code);

		if (r == 0) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		wa->n_running--;
		a = exec_result(wa, r, code, r == 1 ? spawn_first_line(j->ch) : "", &delay);
		if (a != DOB_ACTION_UNSPECIFIED)
			send_reply(wa, &j->ev.u.job_error, a, delay);
		else
			settle(wa, j->ev.u.job_error.episode_id);
		job_free(j);
	}
	start_commands(wa);
}

/* Answers a JobError as the watch's mode says (m is moved for --exec). */
static void answer(struct watch *wa, struct dob_msg *m)
{
	const struct dob_job_error *e = &m->u.job_error;
	enum dob_action a = DOB_ACTION_UNSPECIFIED;
	struct job *j, **tail;

	switch (wa->mode) {
	case REPLY_FIXED:
		a = wa->action;
		break;
	case REPLY_ASK:
		a = ask_action(wa, e);
		break;
	case REPLY_EXEC:
		if (queued(wa, e->episode_id))
			return;
		j = dob_calloc(1, sizeof *j);
		if (!j) {
			dobctl_say("--exec: out of memory; no reply sent");
			return;
		}
		j->ev = *m;
		memset(m, 0, sizeof *m);
		for (tail = &wa->waiting; *tail; tail = &(*tail)->next)
			;
		*tail = j;
		start_commands(wa);
		return;
	case REPLY_NONE:
		return;
	}
	if (a == DOB_ACTION_UNSPECIFIED) {
		settle(wa, e->episode_id);
		return;
	}
	send_reply(wa, e, a, 0);
}

static void print_event(struct watch *wa, const struct dob_msg *m)
{
	if (wa->g->json) {
		dobctl_event_json(&wa->w, m);
		dobctl_print_json(&wa->w);
	} else {
		char line[2048];

		dobctl_event_line(m, line, sizeof line);
		printf("%s\n", line);
		fflush(stdout);
	}
}

/* Takes one event. Returns true when it was printed (and counts). */
static bool on_event(struct watch *wa, struct dob_msg *m)
{
	if (m->type == DOB_MSG_JOB_ERROR) {
		uint64_t ep = m->u.job_error.episode_id;
		long at = dobctl_seen_find(wa->seen, ep);

		if (at >= 0) {
			/* A replay of an episode printed before (after a
			 * reconnection): not printed again; answered again only
			 * when dobctl's answer did not reach the broker. */
			if (!wa->seen->settled[at] && wa->mode != REPLY_NONE)
				answer(wa, m);
			return false;
		}
		dobctl_seen_add(wa->seen, ep);
		print_event(wa, m);
		if (wa->mode != REPLY_NONE)
			answer(wa, m);
		return true;
	}
	if (m->type == DOB_MSG_RESOLUTION)
		settle(wa, m->u.resolution.episode_id);
	print_event(wa, m);
	return true;
}

static void say_connected(struct watch *wa, bool again)
{
	const struct dob_welcome *w = dobc_welcome(wa->c);

	if (wa->g->json) {
		if (!again)
			return;
		jsonw_obj_open(&wa->w);
		jsonw_kstr(&wa->w, "type", "reconnected");
		jsonw_ku64(&wa->w, "session_id", w->session_id);
		jsonw_ku64(&wa->w, "pending_episodes", w->pending_episodes);
		jsonw_obj_close(&wa->w);
		dobctl_print_json(&wa->w);
		return;
	}
	dobctl_say("%s: %s, backend %s, session %" PRIu64 ", %" PRIu32 " pending episode%s%s",
		   again ? "reconnected" : "watching", w->broker_version ? w->broker_version : "broker",
		   dob_backend_name(w->backend), w->session_id, w->pending_episodes,
		   w->pending_episodes == 1 ? "" : "s", wa->mode == REPLY_NONE ? "" : " (controller)");
}

/* Connects, and with --reconnect keeps trying with backoff. Returns 0 or
 * the exit code. */
static int watch_connect(struct watch *wa, bool again)
{
	enum dob_role role = wa->mode == REPLY_NONE ? DOB_ROLE_OBSERVER : DOB_ROLE_CONTROLLER;
	char msg[DOBC_MESSAGE_MAX + DOBC_ENDPOINT_MAX + 64];
	int backoff = BACKOFF_FIRST_MS;

	for (;;) {
		int err, code = dobctl_connect_quiet(wa->g, role, &wa->filter, &wa->c, &err, msg, sizeof msg);

		if (code == 0) {
			say_connected(wa, again);
			return 0;
		}
		if (code == EXIT_USAGE)
			return dobctl_usage_error("%s", msg);
		if (!wa->reconnect) {
			dobctl_say("%s", msg);
			return code;
		}
		dobctl_say("%s; trying again in %d ms", msg, backoff);
		/* Commands keep running meanwhile; their answers wait. */
		for (int left = backoff; left > 0; left -= EXEC_POLL_MS) {
			spawn_pause_ms(left < EXEC_POLL_MS ? left : EXEC_POLL_MS);
			if (wa->n_running)
				check_commands(wa);
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		again = true;
	}
}

/* The connection ended with r: say so. */
static void say_lost(struct watch *wa, int r)
{
	const struct dobc_error *e = dobc_last_error(wa->c);
	const char *why = e->message[0] ? e->message : dobc_strerror(r);

	if (wa->g->json) {
		jsonw_obj_open(&wa->w);
		jsonw_kstr(&wa->w, "type", "disconnected");
		jsonw_kstr(&wa->w, "message", why);
		jsonw_obj_close(&wa->w);
		dobctl_print_json(&wa->w);
	}
	dobctl_say("watch: %s; reconnecting", why);
}

int dobctl_cmd_watch(struct global *g, int argc, char **argv)
{
	struct dob_guid jobs[DOB_MAX_FILTER_JOBS];
	struct watch wa;
	const char *v, *on_error = NULL;
	char why[DOBCTL_WHY_MAX];
	int i = 0, r, code = EXIT_OK;

	memset(&wa, 0, sizeof wa);
	wa.g = g;
	wa.exec_timeout_ms = DEFAULT_EXEC_TIMEOUT_MS;
	wa.exec_concurrency = 1;
	while (i < argc) {
		if ((r = dobctl_opt(argc, argv, &i, "--job", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (wa.filter.n_job_ids == DOB_MAX_FILTER_JOBS)
				return dobctl_usage_error("at most %d --job", DOB_MAX_FILTER_JOBS);
			if (dobctl_parse_guid(v, &jobs[wa.filter.n_job_ids]))
				return EXIT_USAGE;
			wa.filter.n_job_ids++;
		} else if ((r = dobctl_opt(argc, argv, &i, "--prefix", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			wa.filter.display_name_prefix = (char *)v;
		} else if ((r = dobctl_opt(argc, argv, &i, "--kinds", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_kinds(v, &wa.filter.kind_mask, why, sizeof why) < 0)
				return dobctl_usage_error("--kinds: %s", why);
		} else if ((r = dobctl_opt(argc, argv, &i, "--on-error", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			on_error = v;
		} else if ((r = dobctl_opt(argc, argv, &i, "--exec", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (!*v)
				return dobctl_usage_error("--exec needs a command");
			wa.exec = v;
		} else if ((r = dobctl_opt(argc, argv, &i, "--exec-timeout", &v)) != 0) {
			uint32_t ms;

			if (r < 0 || dobctl_parse_ms("--exec-timeout", v, &ms))
				return EXIT_USAGE;
			wa.exec_timeout_ms = ms > 0x7fffffff ? 0x7fffffff : (int)ms;
		} else if ((r = dobctl_opt(argc, argv, &i, "--exec-concurrency", &v)) != 0) {
			uint32_t n;

			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u32(v, &n) < 0 || n < 1 || n > SPAWN_MAX)
				return dobctl_usage_error("--exec-concurrency wants 1..%d, got '%s'", SPAWN_MAX, v);
			wa.exec_concurrency = (int)n;
		} else if ((r = dobctl_opt(argc, argv, &i, "--count", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(v, &wa.count) < 0 || wa.count == 0)
				return dobctl_usage_error("--count wants a number >= 1, got '%s'", v);
		} else if ((r = dobctl_opt(argc, argv, &i, "--reconnect", NULL)) != 0) {
			wa.reconnect = true;
		} else if ((code = dobctl_other_word("watch", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (on_error && strcmp(on_error, "none") != 0) {
		if (wa.exec)
			return dobctl_usage_error("--on-error and --exec both answer errors: choose one");
		if (strcmp(on_error, "ask") == 0) {
			if (!spawn_stdin_is_terminal())
				return dobctl_usage_error("--on-error=ask needs a terminal on stdin to ask on; "
							  "use --on-error=ACTION or --exec CMD in scripts");
			wa.mode = REPLY_ASK;
		} else {
			r = dobctl_parse_action(on_error);
			if (r < 0 || r == DOB_ACTION_RESUME_AFTER_DELAY)
				return dobctl_usage_error("--on-error wants ask, resume, cancel, complete, suspend "
							  "or none, got '%s'", on_error);
			wa.mode = REPLY_FIXED;
			wa.action = (enum dob_action)r;
		}
	} else if (wa.exec) {
		wa.mode = REPLY_EXEC;
		spawn_guard();
	}
	wa.filter.job_ids = wa.filter.n_job_ids ? jobs : NULL;
	wa.seen = dob_calloc(1, sizeof *wa.seen);
	if (!wa.seen) {
		dobctl_say("out of memory");
		return EXIT_CONNECT;
	}
	dobctl_seen_init(wa.seen);
	jsonw_init(&wa.w);

	code = watch_connect(&wa, false);
	while (code == 0) {
		struct dob_msg m;
		bool done = wa.count && wa.printed >= wa.count;

		if (done && !wa.running && !wa.waiting)
			break;
		/* With commands running, look at them every EXEC_POLL_MS. */
		r = dobc_next_event(wa.c, &m, wa.n_running ? EXEC_POLL_MS : DOBC_TIMEOUT_INFINITE);
		if (r == 0 && done) {
			/* --count reached: only the answers still due matter. */
			dob_msg_clear(&m);
		} else if (r == 0) {
			if (on_event(&wa, &m))
				wa.printed++;
			dob_msg_clear(&m);
		} else if (r != -DOB_ETIMEDOUT) {
			if (!wa.reconnect) {
				code = dobctl_request_failed(wa.c, "watch", r);
				break;
			}
			say_lost(&wa, r);
			dobc_close(wa.c);
			wa.c = NULL;
			code = watch_connect(&wa, true);
		}
		if (wa.n_running)
			check_commands(&wa);
	}
	while (wa.running) {
		struct job *j = wa.running;

		wa.running = j->next;
		job_free(j);
	}
	while (wa.waiting) {
		struct job *j = wa.waiting;

		wa.waiting = j->next;
		job_free(j);
	}
	jsonw_free(&wa.w);
	dob_free(wa.seen);
	dobc_close(wa.c);
	return code;
}
/* ---------------------------------------------------------------- top */

/* Takes the events that arrive within timeout_ms (0: those already here)
 * into the view; with replayed, stops early once *replayed reaches want:
 * it counts the replayed JobErrors, and the Resolutions of episodes the
 * view never had (an episode pending at the Welcome that ended before its
 * turn in the replay comes as its Resolution instead: docs/protocol.md).
 * Returns 0 or the connection's error. */
static int top_events(struct dobc *c, struct top_view *v, int timeout_ms, uint32_t *replayed,
		      uint32_t want)
{
	int64_t end = transport_now_us() + (int64_t)timeout_ms * 1000;

	for (;;) {
		if (replayed && *replayed >= want)
			return 0;
		int64_t left = end - transport_now_us();
		struct dob_msg m;
		int r = dobc_next_event(c, &m, left > 0 ? (int)((left + 999) / 1000) : 0);

		if (r == -DOB_ETIMEDOUT)
			return 0;
		if (r < 0)
			return r;
		if (replayed && ((m.type == DOB_MSG_JOB_ERROR && m.u.job_error.replayed) ||
				 (m.type == DOB_MSG_RESOLUTION &&
				  !top_has_episode(v, m.u.resolution.episode_id))))
			(*replayed)++;
		top_on_event(v, &m);
		dob_msg_clear(&m);
		if (left <= 0 && !dobc_pending(c))
			return 0;
	}
}

int dobctl_cmd_top(struct global *g, int argc, char **argv)
{
	struct dob_filter f = { .kind_mask = (1u << DOB_EVENT_JOB_ERROR) |
					     (1u << DOB_EVENT_RESOLUTION) };
	struct dob_list_jobs_reply jobs;
	struct dob_stats st;
	struct top_view *v = NULL;
	struct dobc *c = NULL;
	struct jsonw w;
	const char *val;
	uint32_t interval = 1000, replayed = 0;
	uint64_t count = 0, shown = 0, decisions0 = 0;
	int64_t t_prev = 0;
	uint64_t in_prev = 0, out_prev = 0;
	bool once = false, have_prev = false;
	int i = 0, r, code;

	while (i < argc) {
		if ((r = dobctl_opt(argc, argv, &i, "--interval", &val)) != 0) {
			if (r < 0 || dobctl_parse_ms("--interval", val, &interval))
				return EXIT_USAGE;
			if (interval < 100)
				return dobctl_usage_error("--interval wants at least 100 ms, got %" PRIu32, interval);
		} else if ((r = dobctl_opt(argc, argv, &i, "--once", NULL)) != 0) {
			once = true;
		} else if ((r = dobctl_opt(argc, argv, &i, "--count", &val)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(val, &count) < 0 || count == 0)
				return dobctl_usage_error("--count wants a number >= 1, got '%s'", val);
		} else if ((code = dobctl_other_word("top", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (!spawn_stdout_is_terminal())
		once = true;
	else if (!once && !g->json)
		spawn_stdout_ansi();
	v = dob_calloc(1, sizeof *v);
	if (!v) {
		dobctl_say("out of memory");
		return EXIT_CONNECT;
	}
	top_init(v);
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, &f, &c);
	if (code) {
		dob_free(v);
		return code;
	}
	v->broker_version = dobc_welcome(c)->broker_version;
	v->backend = dobc_welcome(c)->backend;
	/* The pending episodes come first, as replays: wait for those the
	 * Welcome announced (ages and deadlines are in them). */
	top_events(c, v, g->timeout_ms, &replayed, dobc_welcome(c)->pending_episodes);
	jsonw_init(&w);
	for (;;) {
		r = dobc_list_jobs(c, &jobs, g->timeout_ms);
		if (r < 0) {
			code = dobctl_request_failed(c, "top: jobs", r);
			dobc_list_jobs_reply_clear(&jobs);
			break;
		}
		r = dobc_stats(c, &st, g->timeout_ms);
		if (r < 0) {
			code = dobctl_request_failed(c, "top: stats", r);
			dobc_list_jobs_reply_clear(&jobs);
			dobc_stats_clear(&st);
			break;
		}
		r = top_events(c, v, 0, NULL, 0);
		if (r < 0) {
			code = dobctl_request_failed(c, "top", r);
			dobc_list_jobs_reply_clear(&jobs);
			dobc_stats_clear(&st);
			break;
		}
		v->stats = &st;
		v->jobs = &jobs;
		v->now_us = spawn_wall_us();
		v->interval_ms = 0;
		if (have_prev) {
			int64_t now = transport_now_us();
			double secs = (double)(now - t_prev) / 1e6;

			if (secs > 0) {
				v->interval_ms = (now - t_prev) / 1000;
				v->events_in_per_s = (double)(st.events_in - in_prev) / secs;
				v->events_out_per_s = (double)(st.events_out - out_prev) / secs;
				v->decisions_per_s = (double)(v->decisions - decisions0) / secs;
			}
		}
		if (g->json) {
			top_json(&w, v);
			dobctl_print_json(&w);
		} else {
			if (!once)
				fputs("\033[H\033[2J", stdout); /* home, clear screen */
			top_print(stdout, v);
			fflush(stdout);
		}
		v->stats = NULL;
		v->jobs = NULL;
		dobc_list_jobs_reply_clear(&jobs);
		in_prev = st.events_in;
		out_prev = st.events_out;
		dobc_stats_clear(&st);
		have_prev = true;
		t_prev = transport_now_us();
		decisions0 = v->decisions;
		if (once || (count && ++shown >= count))
			break;
		r = top_events(c, v, (int)interval, NULL, 0);
		if (r < 0) {
			code = dobctl_request_failed(c, "top", r);
			break;
		}
	}
	jsonw_free(&w);
	dobc_close(c);
	dob_free(v);
	return code;
}

