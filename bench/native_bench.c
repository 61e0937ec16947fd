/*
 * bench/native_bench.c - issue 6, native: dobrokerd (sim backend, Unix
 * socket) against baselines measured in the same run on the same
 * transport. Prints a table and writes JSON.
 *
 *   native_bench [--out FILE] [--quick]
 *
 * What is measured (each figure next to its baseline):
 *  0. the durable commit baseline: an append + fdatasync on the state
 *     directory's file system at 1/ms (what group commit adds to an event
 *     that comes alone);
 *  1. event latency: from the sim handing a JobError to the broker's loop
 *     (the event's first_seen_us, the sim's wall clock at hand-off) to a
 *     libdobclient subscriber holding the decoded event (CLOCK_REALTIME,
 *     same machine), for 1, 8 and 64 subscribers served by one reader
 *     thread; baseline: a process writing frames of the same size, with a
 *     timestamp, to as many Unix socket pairs at the same rate, read by the
 *     same kind of reader;
 *  2. fan-out throughput: JobErrors/s delivered to 1, 8, 64 subscribers
 *     (every subscriber gets every event; readers count frames without
 *     decoding them, as the raw baseline does); baselines: the same frames
 *     written to as many socket pairs one send() per frame, and in 64 KiB
 *     batches (the transport's limit);
 *  3. action round trip: Act -> ActionResult with the sim answering at once
 *     (and Ping -> Pong, the broker without backend); baseline: a raw
 *     request/reply ping-pong of the same sizes over a socket pair;
 *  5. cost per unit: broker RSS per idle subscriber, per managed job, per
 *     pending episode; broker CPU per 1,000 events; journal bytes per
 *     episode and per job;
 *  6. the alternatives: polling at 1 s and 5 s (detection latency,
 *     simulated in virtual time and labelled so), and a process spawn per
 *     event (fork+exec+wait of /bin/true; posix_spawn too).
 * (4, the COM callback's return time, exists only on Windows: bench-wine.)
 *
 * The broker runs with its defaults except limits the bench's single user
 * would hit (connections and jobs per identity, frame rate), named in the
 * output. Timing never fails the run: it exits 1 only when what was
 * measured did not work (events lost, a broker that did not start, a
 * refused action).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "dob/codec.h"
#include "dob/msg.h"
#include "dobclient.h"
#include "native/native.h"

extern char **environ;

static int failures;
static bool quick;
static const char *only; /* --only: comma-separated sections to run */

static bool want(const char *section)
{
	size_t n = strlen(section);

	for (const char *p = only; p && *p;) {
		if (!strncmp(p, section, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return !only;
}

void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("native_bench: FAILED: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("  .. ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---------------------------------------------------------------- results */

struct lat_row {
	int subs;
	size_t frame;           /* bytes, prefix included */
	uint64_t events;
	struct bstats broker, raw;
	struct bstats wire;     /* broker again, to the frame's arrival (no decode) */
	double broker_cpu_per_k_us; /* broker CPU per 1,000 events (us) */
	bool ok;
};

struct tput_row {
	int subs;
	size_t frame;
	uint64_t events;
	double broker_eps, raw_eps, raw_batched_eps;  /* events/s, each to every subscriber */
	double broker_cpu_share;  /* broker CPU time / wall time of its run: < 1 when
				   * it waited (for the readers, or for a CPU) */
	double broker_capacity;   /* events/s the broker's CPU per event allows on one
				   * core of its own: 1 / CPU per event (derived) */
	double broker_cpu_per_k_us, reader_cpu_per_k_us;
	double raw_writer_cpu_per_k_us;
	bool ok;
};

struct rt_row {
	const char *name;
	size_t req, resp;
	struct bstats s, base; /* base: the raw ping-pong interleaved with it */
};

struct unit_costs {
	int idle_n, jobs_n;
	double per_idle_sub, per_job, per_episode;        /* bytes of RSS */
	double journal_per_job, journal_per_episode;      /* bytes */
	int64_t rss_base;
};

struct spawn_row {
	const char *name;
	struct bstats s;
};

static struct lat_row lat_rows[3];
static struct tput_row tput_rows[3];
#define RT_ROWS 3
static struct rt_row rt_rows[RT_ROWS];
static struct unit_costs units;
/* 7. restart: exec to the first answered handshake. */
static struct {
	int n;
	struct bstats empty, full;
} restart;
static struct spawn_row spawn_rows[2];
static struct bstats poll_rows[2];
static const int sub_counts[3] = { 1, 8, 64 };

/* ---------------------------------------------------------------- 1. latency */

/* Scenario time of the first event (ms after the broker starts): the
 * setup runs before it. DOB_BENCH_T0_MS overrides (slow brokers, e.g. under
 * valgrind). */
static int T0_MS = 1500;

/* Every subscriber reads with libdobclient; one thread serves them all. */
static int read_events(struct dobc **subs, int n, uint64_t want, int64_t deadline,
		       struct bvec *lat, size_t *frame)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t *got = calloc((size_t)n, sizeof *got);
	struct epoll_event ev, evs[128];
	int left = n, rc = 0;

	for (int i = 0; i < n; i++) {
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, (int)dobc_poll_handle(subs[i]), &ev);
	}
	while (left > 0) {
		int64_t now = mono_ns();
		int k;

		if (now >= deadline) {
			rc = -1;
			break;
		}
		k = epoll_wait(ep, evs, 128, (int)((deadline - now) / 1000000) + 1);
		for (int e = 0; e < k; e++) {
			int i = (int)evs[e].data.u32;
			struct dob_msg m;
			int r = dobc_process(subs[i]);

			while (dobc_next_event(subs[i], &m, 0) == 0) {
				if (m.type == DOB_MSG_JOB_ERROR) {
					int64_t t = wall_ns();

					if (lat)
						bvec_push(lat, t - m.u.job_error.first_seen_us * 1000);
					if (frame && !*frame)
						*frame = (size_t)dob_frame_size(&m);
					if (++got[i] == want)
						left--;
				}
				dob_msg_clear(&m);
			}
			if (r < 0 && got[i] < want) {
				bad("subscriber %d: connection over after %llu of %llu events: %s", i,
				    (unsigned long long)got[i], (unsigned long long)want,
				    dobc_strerror(r));
				epoll_ctl(ep, EPOLL_CTL_DEL, (int)dobc_poll_handle(subs[i]), NULL);
				left--;
				rc = -1;
			}
		}
	}
	if (rc)
		for (int i = 0; i < n; i++)
			if (got[i] < want)
				note("subscriber %d got %llu of %llu events", i,
				     (unsigned long long)got[i], (unsigned long long)want);
	free(got);
	close(ep);
	return rc;
}

static struct dobc **connect_subs(const struct bk *b, int n, uint32_t mask)
{
	struct dobc **subs = calloc((size_t)n, sizeof *subs);

	for (int i = 0; subs && i < n; i++) {
		char name[32];

		snprintf(name, sizeof name, "bench-sub-%d", i);
		subs[i] = bench_connect(b->sock, name, DOB_ROLE_OBSERVER, mask, 5000);
		if (!subs[i]) {
			bad("subscriber %d could not connect", i);
			for (int k = 0; k < i; k++)
				dobc_close(subs[k]);
			free(subs);
			return NULL;
		}
	}
	return subs;
}

static void close_subs(struct dobc **subs, int n)
{
	for (int i = 0; subs && i < n; i++)
		dobc_close(subs[i]);
	free(subs);
}

/* One broker run of the paced scenario. decode: subscribers read with
 * libdobclient and the latency ends with the decoded event; else they read
 * the socket and the latency ends when the frame has arrived (its
 * first_seen_us read off the wire), which leaves the client's decoding out. */
static int broker_latency(int nsubs, int events, bool decode, struct bvec *lat, size_t *frame,
			  double *cpu_per_k_us)
{
	const int n_jobs = 16, period_ms = 1;
	struct sb s = { 0 };
	struct bk b;
	struct dobc **subs = NULL;
	int64_t started, cpu0, cpu1, deadline;
	int rc = -1;

	bench_scenario_paced(&s, events, n_jobs, period_ms, T0_MS);
	started = mono_ns();
	deadline = started + (int64_t)(T0_MS + events * period_ms + 10000) * 1000000;
	if (bk_start(&b, s.p, s.n, NULL) < 0)
		goto stop;
	subs = connect_subs(&b, nsubs, 1u << DOB_EVENT_JOB_ERROR);
	if (!subs)
		goto stop;
	if (submit_many(&b, "lat", n_jobs) < 0)
		goto stop;
	if (mono_ns() - started > (int64_t)(T0_MS - 200) * 1000000)
		note("setup took %lld ms, close to the first event at %d ms",
		     (long long)((mono_ns() - started) / 1000000), T0_MS);
	char pname[32];
	snprintf(pname, sizeof pname, "latency-%d%s", nsubs, decode ? "" : "-wire");
	pid_t prof = prof_start(pname, b.pid);
	cpu0 = cpu_of(b.pid);
	if (decode) {
		rc = read_events(subs, nsubs, (uint64_t)events, deadline, lat, frame);
	} else {
		struct rreader r;
		int fds[256];

		for (int i = 0; i < nsubs; i++)
			fds[i] = (int)dobc_poll_handle(subs[i]);
		if (rreader_init(&r, fds, nsubs, (uint64_t)events, false, lat) == 0) {
			r.peek = true;
			rc = rreader_run(&r, deadline);
		}
		rreader_free(&r);
	}
	cpu1 = cpu_of(b.pid);
	prof_stop(prof);
	if (rc < 0)
		bad("latency, %d subscribers%s: events lost", nsubs, decode ? "" : " (wire)");
	if (cpu_per_k_us)
		*cpu_per_k_us = (double)(cpu1 - cpu0) / 1000.0 / (double)events * 1000.0;
stop:
	close_subs(subs, nsubs);
	bk_stop(&b);
	free(s.p);
	return rc;
}

/* The baseline of a durable journal: what one commit costs on the file
 * system the broker's state directory is on (the same TMPDIR), measured
 * in this run at the latency rows' pace: append a record-sized write,
 * fdatasync, wait 1 ms. Group commit puts one of these between an event's
 * hand-off and its frame when events come one at a time, so the latency
 * rows are read against raw one-way + this (and, at 1 event/ms, its CPU
 * is part of the broker's CPU per event). */
static struct {
	int n;
	struct bstats lat;   /* us per write + fdatasync */
	double cpu_us;       /* this process's CPU (user + system) per commit */
} commit_base;

static void run_commit_baseline(int n)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600];
	struct bvec v = { 0 };
	uint8_t rec[222];
	int64_t c0, c1;
	int fd;

	snprintf(dir, sizeof dir, "%s/dob-bench-fsync-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		bad("commit baseline: mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof path, "%s/journal", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		bad("commit baseline: %s: %s", path, strerror(errno));
		rmdir(dir);
		return;
	}
	memset(rec, 'r', sizeof rec);
	c0 = self_cpu_ns();
	for (int i = 0; i < n; i++) {
		int64_t t = mono_ns();

		if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec || fdatasync(fd) != 0) {
			bad("commit baseline: write/fdatasync: %s", strerror(errno));
			break;
		}
		bvec_push(&v, mono_ns() - t);
		sleep_ms(1);
	}
	c1 = self_cpu_ns();
	close(fd);
	unlink(path);
	rmdir(dir);
	commit_base.n = n;
	commit_base.lat = bstats_of(&v);
	/* the 1 ms sleeps cost a little CPU too: an upper bound, said so */
	commit_base.cpu_us = n ? (double)(c1 - c0) / 1000.0 / n : 0;
	bvec_free(&v);
}

static void run_latency(int row, int nsubs, int events)
{
	struct lat_row *L = &lat_rows[row];
	const int period_ms = 1;
	struct bvec lat = { 0 }, wlat = { 0 }, rlat = { 0 };

	memset(L, 0, sizeof *L);
	L->subs = nsubs;
	L->events = (uint64_t)events;
	L->ok = broker_latency(nsubs, events, true, &lat, &L->frame, &L->broker_cpu_per_k_us) == 0;
	L->broker = bstats_of(&lat);
	if (broker_latency(nsubs, events, false, &wlat, NULL, NULL) < 0)
		L->ok = false;
	L->wire = bstats_of(&wlat);

	/* Baseline: the same number of frames of the same size, at the same
	 * pace, one writer process to nsubs socket pairs, one reader. */
	if (L->frame) {
		struct raw_pair p;
		struct rreader r;
		pid_t w;
		int64_t t0 = wall_ns() + 50000000;

		if (raw_pairs(&p, nsubs) < 0 ||
		    rreader_init(&r, p.rd, nsubs, (uint64_t)events, true, &rlat) < 0) {
			bad("raw latency: socketpair/epoll: %s", strerror(errno));
			goto out;
		}
		w = raw_writer(&p, L->frame, (uint64_t)events, t0, (int64_t)period_ms * 1000000, 0);
		raw_close(&p, false, true);
		if (rreader_run(&r, mono_ns() + (int64_t)(events * period_ms + 10000) * 1000000) < 0)
			bad("raw latency baseline: frames lost");
		if (wait_child(w, NULL) != 0)
			bad("raw latency writer failed");
		rreader_free(&r);
		raw_close(&p, true, false);
		L->raw = bstats_of(&rlat);
	}
out:
	bvec_free(&lat);
	bvec_free(&wlat);
	bvec_free(&rlat);
}

/* ---------------------------------------------------------------- 2. throughput */

/* n_jobs jobs in two halves that take turns every millisecond: one half
 * fails while the other is requeued. cycles full turns: n_jobs * cycles
 * JobErrors, offered at n_jobs / 2 per millisecond. */
static void scenario_burst(struct sb *s, int n_jobs, int cycles)
{
	int half = n_jobs / 2;

	sb_printf(s, "# native_bench: JobError bursts\nseed 1\nrepeat off\nmodifications on\n"
		     "default hang\n");
	for (int c = 0; c < cycles; c++) {
		int t = T0_MS + 2 * c;

		for (int k = 1; k <= half; k++) {
			sb_printf(s, "at %dms #%d error http=404\n", t, k);
			sb_printf(s, "at %dms #%d queued\n", t + 1, k);
		}
		for (int k = half + 1; k <= n_jobs; k++) {
			sb_printf(s, "at %dms #%d error http=404\n", t + 1, k);
			sb_printf(s, "at %dms #%d queued\n", t + 2, k);
		}
	}
}

static void run_throughput(int row, int nsubs, int n_jobs, int cycles)
{
	struct tput_row *T = &tput_rows[row];
	/* Flat out, the broker may get ahead of the reader: lift both hard
	 * limits (frames and bytes) so a burst is queued, not cut off as
	 * TOO_SLOW (the row measures the broker's speed, not the limits). */
	static const char *const extra[] = { "--queue-hard-limit=100000000",
					      "--queue-hard-bytes=4000000000", NULL };
	uint64_t events = (uint64_t)n_jobs * (uint64_t)cycles;
	struct sb s = { 0 };
	struct bk b;
	struct dobc **subs;
	struct rreader r;
	int fds[256];
	int64_t started, cpu0, cpu1, self0, self1;

	memset(T, 0, sizeof *T);
	memset(&r, 0, sizeof r);
	r.ep = -1;
	T->subs = nsubs;
	T->events = events;
	scenario_burst(&s, n_jobs, cycles);
	started = mono_ns();
	if (bk_start(&b, s.p, s.n, extra) < 0)
		goto stop;
	subs = connect_subs(&b, nsubs, 1u << DOB_EVENT_JOB_ERROR);
	if (!subs)
		goto stop;
	if (submit_many(&b, "tput", n_jobs) < 0)
		goto close;
	if (mono_ns() - started > (int64_t)(T0_MS - 200) * 1000000)
		note("setup took %lld ms, close to the first event at %d ms",
		     (long long)((mono_ns() - started) / 1000000), T0_MS);
	/* After the handshake (done by libdobclient, nothing else is in
	 * flight before the first event) the readers take the raw stream. */
	for (int i = 0; i < nsubs; i++)
		fds[i] = (int)dobc_poll_handle(subs[i]);
	if (rreader_init(&r, fds, nsubs, events, false, NULL) < 0) {
		bad("throughput: epoll: %s", strerror(errno));
		goto close;
	}
	char pname[32];
	snprintf(pname, sizeof pname, "throughput-%d", nsubs);
	pid_t prof = prof_start(pname, b.pid);
	cpu0 = cpu_of(b.pid);
	self0 = self_cpu_ns();
	/* The first frame tells when the sim handed out the first event. */
	{
		struct rconn *c0 = &r.c[0];
		int64_t first_us = 0;

		if (rreader_run(&r, started + (int64_t)(T0_MS + 60000) * 1000000) < 0) {
			bad("throughput, %d subscribers: events lost or too slow (%llu of %llu on "
			    "the first)", nsubs, (unsigned long long)c0->frames,
			    (unsigned long long)events);
			prof_stop(prof);
			goto close;
		}
		self1 = self_cpu_ns();
		cpu1 = cpu_of(b.pid);
		prof_stop(prof);
		struct dob_msg m;
		if (r.first && dob_decode(r.first, r.first_len, &m, NULL) == 0) {
			if (m.type == DOB_MSG_JOB_ERROR)
				first_us = m.u.job_error.first_seen_us;
			T->frame = (size_t)dob_frame_size(&m);
			dob_msg_clear(&m);
		}
		if (!first_us)
			bad("throughput: the first frame is not a JobError");
		if (first_us) {
			double secs = (double)(r.done_ns - first_us * 1000) / 1e9;
			T->broker_eps = (double)events / secs;
			T->broker_cpu_share = (double)(cpu1 - cpu0) / 1e9 / secs;
		}
		T->broker_cpu_per_k_us = (double)(cpu1 - cpu0) / 1000.0 / (double)events * 1000.0;
		if (cpu1 > cpu0)
			T->broker_capacity = (double)events / ((double)(cpu1 - cpu0) / 1e9);
		T->reader_cpu_per_k_us = (double)(self1 - self0) / 1000.0 / (double)events * 1000.0;
		T->ok = true;
	}
close:
	rreader_free(&r);
	close_subs(subs, nsubs);
stop:
	bk_stop(&b);
	free(s.p);

	/* Baselines: frames of the size the broker sent. */
	if (!T->frame)
		T->frame = lat_rows[row].frame ? lat_rows[row].frame : 300;
	for (int batched = 0; batched < 2; batched++) {
		struct raw_pair p;
		struct rusage ru;
		pid_t w;
		int64_t t0;

		if (raw_pairs(&p, nsubs) < 0 ||
		    rreader_init(&r, p.rd, nsubs, events, false, NULL) < 0) {
			bad("raw throughput: socketpair/epoll: %s", strerror(errno));
			return;
		}
		t0 = wall_ns();
		w = raw_writer(&p, T->frame, events, 0, 0, batched ? 64 * 1024 : 0);
		raw_close(&p, false, true);
		if (rreader_run(&r, mono_ns() + 60000000000LL) < 0)
			bad("raw throughput baseline: frames lost");
		if (wait_child(w, &ru) != 0)
			bad("raw throughput writer failed");
		double secs = (double)(r.done_ns - t0) / 1e9;
		if (batched) {
			T->raw_batched_eps = (double)events / secs;
		} else {
			T->raw_eps = (double)events / secs;
			T->raw_writer_cpu_per_k_us =
				((double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
				 (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec) /
				(double)events * 1000.0;
		}
		rreader_free(&r);
		raw_close(&p, true, false);
	}
}

/* ---------------------------------------------------------------- 3. action round trip */

/* The raw baseline: an echo process on a socket pair that answers each
 * request of req bytes with resp bytes. Its rounds are interleaved with the
 * broker's, so both run under the same conditions (on a VM the cost of
 * waking an idle CPU depends on what ran just before). */
struct echo {
	pid_t pid;
	int fd;
	size_t req, resp;
	uint8_t *buf; /* owned */
};

static int echo_start(struct echo *e, size_t req, size_t resp)
{
	int sv[2];

	memset(e, 0, sizeof *e);
	e->fd = -1;
	e->req = req;
	e->resp = resp;
	e->buf = calloc(1, req > resp ? req : resp);
	if (!e->buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	e->pid = fork();
	if (e->pid < 0)
		return -1;
	if (e->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		for (;;)
			if (read_all(sv[1], e->buf, req) < 0 || write_all(sv[1], e->buf, resp) < 0)
				_exit(0);
	}
	close(sv[1]);
	e->fd = sv[0];
	return 0;
}

static int echo_round(struct echo *e, struct bvec *v)
{
	int64_t t = mono_ns();

	if (write_all(e->fd, e->buf, e->req) < 0 || read_all(e->fd, e->buf, e->resp) < 0) {
		bad("raw ping-pong: the echo process is gone");
		return -1;
	}
	bvec_push(v, mono_ns() - t);
	return 0;
}

static void echo_stop(struct echo *e)
{
	if (e->fd >= 0)
		close(e->fd);
	/* Another child may hold a copy of our end: do not wait for EOF. */
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		wait_child(e->pid, NULL);
	}
	free(e->buf);
	e->fd = -1;
	e->pid = 0;
	e->buf = NULL;
}

static void run_action_rt(int rounds)
{
	static const char scen[] =
		"# native_bench: every attempt fails at once; a resume starts the next\n"
		"seed 1\nrepeat off\nmodifications on\ndefault error http=404 after=0\n";
	static const char *const extra[] = { "--rate-limit=0", NULL };
	struct bvec v[RT_ROWS] = { { 0 } }, base[RT_ROWS] = { { 0 } };
	struct echo ea, ep;
	struct bk b;
	struct dobc *c = NULL;
	struct dob_guid job;
	struct dob_action_result res;

	rt_rows[0].name = "Act -> ActionResult, sent at once";
	rt_rows[1].name = "Act -> ActionResult, sent 1 ms later";
	rt_rows[2].name = "Ping -> Pong (no backend)";
	memset(&ea, 0, sizeof ea);
	memset(&ep, 0, sizeof ep);
	ea.fd = ep.fd = -1;
	if (bk_start(&b, scen, sizeof scen - 1, extra) < 0)
		return;
	c = bench_connect(b.sock, "bench-controller", DOB_ROLE_CONTROLLER, 1u << DOB_EVENT_JOB_ERROR,
			5000);
	if (!c) {
		bad("action round trip: cannot connect");
		goto out;
	}
	if (submit(c, &b, "act", 1) < 0)
		goto out;
	/* Each JobError is answered with a resume, which starts an attempt
	 * that fails at once: the next JobError. Even rounds answer at once,
	 * while the broker may still be busy with the episode; odd rounds
	 * wait 1 ms first, so that the broker is asleep when the Act comes.
	 * The baseline's round is made the same way just after. The first
	 * tenth warms up. */
	for (int i = 0; i < 2 * rounds + rounds / 10; i++) {
		struct dob_msg ev;
		int64_t t;
		int k = i & 1, r = dobc_next_event(c, &ev, 5000);

		if (r < 0) {
			bad("action round trip: no JobError after %d actions: %s", i, dobc_strerror(r));
			goto out;
		}
		if (ev.type != DOB_MSG_JOB_ERROR) {
			dob_msg_clear(&ev);
			i--;
			continue;
		}
		job = ev.u.job_error.job.job_id;
		if (k)
			sleep_ms(1);
		t = mono_ns();
		r = dobc_act(c, &job, ev.u.job_error.episode_id, DOB_ACTION_RESUME, 0, &res, 5000);
		t = mono_ns() - t;
		if (r == 0 && ea.pid == 0) {
			bench_act_sizes(&job, ev.u.job_error.episode_id, &res, &rt_rows[0].req,
					&rt_rows[0].resp);
			rt_rows[1].req = rt_rows[0].req;
			rt_rows[1].resp = rt_rows[0].resp;
			if (echo_start(&ea, rt_rows[0].req, rt_rows[0].resp) < 0) {
				bad("raw ping-pong: %s", strerror(errno));
				r = -DOB_EIO;
			}
		}
		dob_msg_clear(&ev);
		if (r == 0 || r == -DOB_EREMOTE)
			dobc_action_result_clear(&res);
		if (r != 0) {
			bad("action round trip: act %d: %s (%s)", i, dobc_strerror(r),
			    dobc_last_error(c)->message);
			goto out;
		}
		if (k)
			sleep_ms(1);
		if (i < rounds / 10) {
			struct bvec scratch = { 0 };
			echo_round(&ea, &scratch);
			bvec_free(&scratch);
			continue;
		}
		bvec_push(&v[k], t);
		if (echo_round(&ea, &base[k]) < 0)
			goto out;
	}
	bench_ping_sizes(&rt_rows[2].req, &rt_rows[2].resp);
	if (echo_start(&ep, rt_rows[2].req, rt_rows[2].resp) < 0) {
		bad("raw ping-pong: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < rounds + rounds / 10; i++) {
		int64_t t = mono_ns(), us;

		if (dobc_ping(c, &us, 5000) != 0) {
			bad("ping: %s", dobc_last_error(c)->message);
			break;
		}
		t = mono_ns() - t;
		if (i >= rounds / 10) {
			bvec_push(&v[2], t);
			if (echo_round(&ep, &base[2]) < 0)
				break;
		}
	}
out:
	dobc_close(c);
	bk_stop(&b);
	echo_stop(&ea);
	echo_stop(&ep);
	for (int k = 0; k < RT_ROWS; k++) {
		rt_rows[k].s = bstats_of(&v[k]);
		rt_rows[k].base = bstats_of(&base[k]);
		bvec_free(&v[k]);
		bvec_free(&base[k]);
	}
}

/* ---------------------------------------------------------------- 5. unit costs */

static void run_idle_subs(int n)
{
	struct bk b;
	struct dobc **subs;
	int64_t r0, r1;

	units.idle_n = n;
	if (bk_start(&b, NULL, 0, NULL) < 0)
		return;
	/* Warm the allocator and the loop with a few connections first. */
	subs = connect_subs(&b, 16, 0);
	close_subs(subs, 16);
	r0 = settled_rss(b.pid);
	subs = connect_subs(&b, n, 0);
	if (subs) {
		r1 = settled_rss(b.pid);
		units.per_idle_sub = (double)(r1 - r0) / n;
		units.rss_base = r0;
		close_subs(subs, n);
	}
	bk_stop(&b);
}

static void run_job_costs(int n)
{
	static const char scen[] =
		"# native_bench: jobs that hang, and jobs that fail at once and stay in error\n"
		"seed 1\nrepeat off\nmodifications off\n"
		"rule \"*/hang/*\" hang\nrule \"*/err/*\" error http=404 after=0\n";
	struct bk b;
	int64_t r0, r1, r2, j0, j1, j2;

	units.jobs_n = n;
	if (bk_start(&b, scen, sizeof scen - 1, NULL) < 0)
		return;
	if (submit_many(&b, "warm", 8) < 0)
		goto out;
	r0 = settled_rss(b.pid);
	j0 = journal_bytes(&b);
	if (submit_many(&b, "hang", n) < 0)
		goto out;
	r1 = settled_rss(b.pid);
	j1 = journal_bytes(&b);
	if (submit_many(&b, "err", n) < 0)
		goto out;
	if (wait_pending(&b, (uint32_t)n, 10000) < 0) {
		bad("unit costs: %d episodes did not all open", n);
		goto out;
	}
	r2 = settled_rss(b.pid);
	j2 = journal_bytes(&b);
	units.per_job = (double)(r1 - r0) / n;
	units.per_episode = (double)(r2 - r1) / n - units.per_job;
	units.journal_per_job = (double)(j1 - j0) / n;
	units.journal_per_episode = (double)(j2 - j1) / n - units.journal_per_job;
out:
	bk_stop(&b);
}

/* ---------------------------------------------------------------- 7. restart */

/* SIGKILL, then exec again on the same state directory: ns until a client's
 * handshake is answered (the first Ping could not come sooner). */
static int64_t restart_once(struct bk *b)
{
	int64_t t;

	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
	t = mono_ns();
	if (bk_spawn(b) < 0)
		return -1;
	return mono_ns() - t;
}

static void run_restart(int n, int reps)
{
	static const char scen[] = "seed 1\nrepeat off\nmodifications off\n"
				   "rule \"*/err/*\" error http=404 after=0\n";
	struct bvec e = { 0 }, f = { 0 };
	struct bk b;

	restart.n = n;
	if (bk_start(&b, scen, sizeof scen - 1, NULL) < 0)
		return;
	{
		/* The simulated service keeps its jobs across the restarts
		 * (as DO does): without it every restart after the first finds
		 * no job and forgets them all. */
		char full[sizeof scen + 400];
		int len = snprintf(full, sizeof full, "%spersist %s/sim-state\n", scen, b.dir);
		if (bench_write_file(b.scen, full, (size_t)len) != 0) {
			bad("restart: cannot write %s", b.scen);
			goto out;
		}
	}
	for (int i = 0; i < reps; i++) {
		int64_t t = restart_once(&b);
		if (t < 0)
			goto out;
		bvec_push(&e, t);
	}
	if (submit_many(&b, "err", n) < 0)
		goto out;
	if (wait_pending(&b, (uint32_t)n, 60000) < 0) {
		bad("restart: %d episodes did not all open", n);
		goto out;
	}
	for (int i = 0; i < reps; i++) {
		int64_t t = restart_once(&b);
		if (t < 0)
			goto out;
		bvec_push(&f, t);
	}
	restart.empty = bstats_of(&e);
	restart.full = bstats_of(&f);
out:
	bvec_free(&e);
	bvec_free(&f);
	bk_stop(&b);
}

/* ---------------------------------------------------------------- 6. alternatives */

static void run_spawn(int n)
{
	struct bvec v = { 0 }, w = { 0 };
	char *const argv[] = { "/bin/true", NULL };

	spawn_rows[0].name = "fork + exec /bin/true + wait";
	spawn_rows[1].name = "posix_spawn /bin/true + wait";
	for (int i = 0; i < n; i++) {
		int64_t t = mono_ns();
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			bad("spawn of /bin/true failed");
			break;
		}
		bvec_push(&v, mono_ns() - t);
	}
	for (int i = 0; i < n; i++) {
		int64_t t = mono_ns();
		pid_t pid;
		int st;

		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
		    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			bad("posix_spawn of /bin/true failed");
			break;
		}
		bvec_push(&w, mono_ns() - t);
	}
	spawn_rows[0].s = bstats_of(&v);
	spawn_rows[1].s = bstats_of(&w);
	bvec_free(&v);
	bvec_free(&w);
}

/* ---------------------------------------------------------------- report */

static void machine(char *cpu, size_t n, char *kernel, size_t kn)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	struct utsname u;

	snprintf(cpu, n, "unknown");
	while (f && fgets(line, sizeof line, f)) {
		char *p = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && p) {
			p += 2;
			p[strcspn(p, "\n")] = '\0';
			snprintf(cpu, n, "%s", p);
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) == 0)
		snprintf(kernel, kn, "%s %s %s", u.sysname, u.release, u.machine);
	else
		snprintf(kernel, kn, "unknown");
}

static char load_start[64], load_end[64];

static void loadavg(char *buf, size_t n)
{
	FILE *f = fopen("/proc/loadavg", "r");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)n, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

static void print_report(void)
{
	printf("load average (1, 5, 15 min, run/total, last pid) at start: %s; at the end: %s\n",
	       load_start, load_end);
	printf("\n== 1. event latency (us): sim hand-off -> subscriber; baseline: raw one-way, same "
	       "frame size, same fan-out, same pace (1/ms)\n");
	printf("   decoded: libdobclient has decoded the event; wire: the frame has arrived (no "
	       "decoding)\n");
	printf("%4s %5s %6s %7s | %7s %7s %7s | %7s %7s %7s | %6s %6s | %6s %6s | %s\n", "subs",
	       "frame", "events", "", "p50", "p99", "p99.9", "raw p50", "raw p99", "raw99.9",
	       "x p50", "x p99", "wx p50", "wx p99", "CPU/event");
	for (int i = 0; i < 3; i++) {
		const struct lat_row *L = &lat_rows[i];

		if (!L->events)
			continue;
		printf("%4d %5zu %6llu %7s | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %6.2f %6.2f | "
		       "%6s %6s | %.1f us%s\n",
		       L->subs, L->frame, (unsigned long long)L->events, "decoded", L->broker.p50,
		       L->broker.p99, L->broker.p999, L->raw.p50, L->raw.p99, L->raw.p999,
		       bratio(L->broker.p50, L->raw.p50), bratio(L->broker.p99, L->raw.p99), "", "",
		       L->broker_cpu_per_k_us / 1000.0, L->ok ? "" : "  FAILED");
		printf("%4s %5s %6s %7s | %7.1f %7.1f %7.1f | %7s %7s %7s | %6s %6s | %6.2f %6.2f |\n",
		       "", "", "", "wire", L->wire.p50, L->wire.p99, L->wire.p999, "", "", "", "", "",
		       bratio(L->wire.p50, L->raw.p50), bratio(L->wire.p99, L->raw.p99));
	}
	if (commit_base.n)
		printf("  durable commit baseline (the state directory's file system, same run): "
		       "222-byte append + fdatasync p50 %.1f us, p99 %.1f us; CPU %.1f us per commit "
		       "(with a 1 ms sleep's share); %d commits\n",
		       commit_base.lat.p50, commit_base.lat.p99, commit_base.cpu_us, commit_base.n);
	printf("\n== 2. fan-out throughput (JobErrors/s, each delivered to every subscriber)\n");
	printf("   broker CPU%%: its CPU time over the run's wall time (below 100%% it waited for "
	       "a CPU or for the reader);\n   capacity: 1 / broker CPU per event, the rate one "
	       "core of its own would allow (derived, not measured)\n");
	printf("%5s %8s | %9s %9s %11s %11s | %6s %6s | %5s %9s | %9s %9s\n", "subs", "events",
	       "broker", "capacity", "raw/frame", "raw 64K", "x fram", "x 64K", "CPU%",
	       "brk/1k", "rdr/1k", "raw/1k");
	for (int i = 0; i < 3; i++) {
		const struct tput_row *T = &tput_rows[i];

		if (!T->events)
			continue;
		printf("%5d %8llu | %9.0f %9.0f %11.0f %11.0f | %6.2f %6.2f | %4.0f%% %6.0f us | "
		       "%6.0f us %6.0f us%s\n",
		       T->subs, (unsigned long long)T->events, T->broker_eps, T->broker_capacity,
		       T->raw_eps, T->raw_batched_eps, bratio(T->broker_eps, T->raw_eps),
		       bratio(T->broker_eps, T->raw_batched_eps), T->broker_cpu_share * 100,
		       T->broker_cpu_per_k_us, T->reader_cpu_per_k_us, T->raw_writer_cpu_per_k_us,
		       T->ok ? "" : "  FAILED");
	}
	printf("\n== 3. request round trips (us); baseline: raw ping-pong of the same sizes, "
	       "interleaved round by round\n");
	printf("%-38s %4s %4s | %7s %7s %7s | %8s %8s | %6s %6s\n", "", "req", "resp", "p50", "p99",
	       "p99.9", "raw p50", "raw p99", "x p50", "x p99");
	for (int i = 0; i < RT_ROWS; i++) {
		const struct rt_row *R = &rt_rows[i];

		printf("%-38s %4zu %4zu | %7.1f %7.1f %7.1f | %8.1f %8.1f | %6.2f %6.2f\n", R->name,
		       R->req, R->resp, R->s.p50, R->s.p99, R->s.p999, R->base.p50, R->base.p99,
		       bratio(R->s.p50, R->base.p50), bratio(R->s.p99, R->base.p99));
	}
	printf("\n== 5. cost per unit (broker RSS from /proc/PID/status; journal from its file)\n");
	printf("  per idle subscriber   %8.0f bytes  (%d subscribers; RSS before %lld KiB)\n",
	       units.per_idle_sub, units.idle_n, (long long)(units.rss_base / 1024));
	printf("  per managed job       %8.0f bytes  (%d jobs; includes the sim's own record "
	       "of the job)\n", units.per_job, units.jobs_n);
	printf("  per pending episode   %8.0f bytes  (%d episodes, beyond their job)\n",
	       units.per_episode, units.jobs_n);
	printf("  journal per job       %8.0f bytes\n", units.journal_per_job);
	printf("  journal per episode   %8.0f bytes\n", units.journal_per_episode);
	printf("  broker CPU per 1,000 events: %.0f us at 1,000 events/s to 1 subscriber, "
	       "%.0f us flat out to 1 (%.0f to 8, %.0f to 64)\n",
	       lat_rows[0].broker_cpu_per_k_us, tput_rows[0].broker_cpu_per_k_us,
	       tput_rows[1].broker_cpu_per_k_us, tput_rows[2].broker_cpu_per_k_us);
	printf("\n== 7. restart: exec (after SIGKILL) to the first answered handshake, same "
	       "state directory\n");
	printf("  empty journal (baseline)      p50 %8.1f ms  max %8.1f ms  (%zu runs)\n",
	       restart.empty.p50 / 1000, restart.empty.max / 1000, restart.empty.n);
	printf("  %5d pending episodes         p50 %8.1f ms  max %8.1f ms  (%zu runs)\n",
	       restart.n, restart.full.p50 / 1000, restart.full.max / 1000, restart.full.n);
	printf("\n== 6. the alternatives\n");
	for (int i = 0; i < 2; i++)
		printf("  polling every %.0f s: detection latency mean %.0f ms, p99 %.0f ms "
		       "(simulated in virtual time, not measured)\n",
		       i ? 5.0 : 1.0, poll_rows[i].mean / 1000, poll_rows[i].p99 / 1000);
	for (int i = 0; i < 2; i++)
		printf("  %-32s p50 %7.0f us  p99 %7.0f us  (per event)\n", spawn_rows[i].name,
		       spawn_rows[i].s.p50, spawn_rows[i].s.p99);
	printf("  dobroker, 8 subscribers: p50 %.0f us, p99 %.0f us: %.0fx faster than polling "
	       "at 1 s (mean), %.0fx cheaper than a spawn per event (p50)\n",
	       lat_rows[1].broker.p50, lat_rows[1].broker.p99,
	       bratio(poll_rows[0].mean, lat_rows[1].broker.p50),
	       bratio(spawn_rows[0].s.p50, lat_rows[1].broker_cpu_per_k_us / 1000.0));
}

static void write_json(const char *path)
{
	FILE *f;
	struct bjson j;
	char cpu[256], kernel[256];
	char dir[1024];
	const char *slash = strrchr(path, '/');

	/* Run by hand from a fresh tree, the default build/bench/ is not
	 * there yet (make bench makes it). */
	if (slash && (size_t)(slash - path) < sizeof dir) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		for (char *c = dir + 1; *c; c++)
			if (*c == '/') {
				*c = '\0';
				mkdir(dir, 0755);
				*c = '/';
			}
		mkdir(dir, 0755);
	}
	f = fopen(path, "w");
	if (!f) {
		bad("cannot write %s: %s", path, strerror(errno));
		return;
	}
	machine(cpu, sizeof cpu, kernel, sizeof kernel);
	bj_begin(&j, f);
	bj_str(&j, "bench", "native");
	bj_int(&j, "time", (int64_t)time(NULL));
	bj_obj(&j, "machine");
	bj_int(&j, "nproc", sysconf(_SC_NPROCESSORS_ONLN));
	bj_str(&j, "cpu", cpu);
	bj_str(&j, "kernel", kernel);
	bj_str(&j, "loadavg_start", load_start);
	bj_str(&j, "loadavg_end", load_end);
	bj_close(&j);
	bj_bool(&j, "quick", quick);
	bj_obj(&j, "commit_baseline");
	bj_num(&j, "commits", commit_base.n);
	bj_stats(&j, "append_fdatasync", &commit_base.lat);
	bj_num(&j, "cpu_us_per_commit", commit_base.cpu_us);
	bj_close(&j);
	bj_arr(&j, "latency");
	for (int i = 0; i < 3; i++) {
		const struct lat_row *L = &lat_rows[i];

		bj_obj(&j, NULL);
		bj_int(&j, "subscribers", L->subs);
		bj_int(&j, "frame_bytes", (int64_t)L->frame);
		bj_int(&j, "events", (int64_t)L->events);
		bj_bool(&j, "ok", L->ok);
		bj_stats(&j, "broker", &L->broker);
		bj_stats(&j, "raw", &L->raw);
		bj_stats(&j, "broker_wire", &L->wire);
		bj_num(&j, "ratio_wire_p50", bratio(L->wire.p50, L->raw.p50));
		bj_num(&j, "ratio_wire_p99", bratio(L->wire.p99, L->raw.p99));
		bj_num(&j, "ratio_p50", bratio(L->broker.p50, L->raw.p50));
		bj_num(&j, "ratio_p99", bratio(L->broker.p99, L->raw.p99));
		bj_num(&j, "broker_cpu_us_per_1000_events", L->broker_cpu_per_k_us);
		bj_close(&j);
	}
	bj_close(&j);
	bj_arr(&j, "throughput");
	for (int i = 0; i < 3; i++) {
		const struct tput_row *T = &tput_rows[i];

		bj_obj(&j, NULL);
		bj_int(&j, "subscribers", T->subs);
		bj_int(&j, "frame_bytes", (int64_t)T->frame);
		bj_int(&j, "events", (int64_t)T->events);
		bj_bool(&j, "ok", T->ok);
		bj_num(&j, "broker_events_per_s", T->broker_eps);
		bj_num(&j, "broker_cpu_share", T->broker_cpu_share);
		bj_num(&j, "broker_capacity_events_per_s_derived", T->broker_capacity);
		bj_num(&j, "raw_per_frame_events_per_s", T->raw_eps);
		bj_num(&j, "raw_batched_events_per_s", T->raw_batched_eps);
		bj_num(&j, "ratio_per_frame", bratio(T->broker_eps, T->raw_eps));
		bj_num(&j, "ratio_batched", bratio(T->broker_eps, T->raw_batched_eps));
		bj_num(&j, "broker_cpu_us_per_1000_events", T->broker_cpu_per_k_us);
		bj_num(&j, "reader_cpu_us_per_1000_events", T->reader_cpu_per_k_us);
		bj_num(&j, "raw_writer_cpu_us_per_1000_events", T->raw_writer_cpu_per_k_us);
		bj_close(&j);
	}
	bj_close(&j);
	bj_arr(&j, "round_trip");
	for (int i = 0; i < RT_ROWS; i++) {
		bj_obj(&j, NULL);
		bj_str(&j, "name", rt_rows[i].name);
		bj_int(&j, "request_bytes", (int64_t)rt_rows[i].req);
		bj_int(&j, "reply_bytes", (int64_t)rt_rows[i].resp);
		bj_stats(&j, "rtt", &rt_rows[i].s);
		bj_stats(&j, "raw", &rt_rows[i].base);
		bj_num(&j, "ratio_p50", bratio(rt_rows[i].s.p50, rt_rows[i].base.p50));
		bj_num(&j, "ratio_p99", bratio(rt_rows[i].s.p99, rt_rows[i].base.p99));
		bj_close(&j);
	}
	bj_close(&j);
	bj_obj(&j, "unit_costs");
	bj_int(&j, "idle_subscribers", units.idle_n);
	bj_int(&j, "jobs", units.jobs_n);
	bj_num(&j, "rss_bytes_per_idle_subscriber", units.per_idle_sub);
	bj_num(&j, "rss_bytes_per_managed_job", units.per_job);
	bj_num(&j, "rss_bytes_per_pending_episode", units.per_episode);
	bj_num(&j, "journal_bytes_per_job", units.journal_per_job);
	bj_num(&j, "journal_bytes_per_episode", units.journal_per_episode);
	bj_num(&j, "cpu_us_per_1000_events_paced", lat_rows[0].broker_cpu_per_k_us);
	bj_num(&j, "cpu_us_per_1000_events_flat_out", tput_rows[0].broker_cpu_per_k_us);
	bj_close(&j);
	bj_obj(&j, "restart");
	bj_int(&j, "pending_episodes", restart.n);
	bj_stats(&j, "empty_journal_us", &restart.empty);
	bj_stats(&j, "full_journal_us", &restart.full);
	bj_close(&j);
	bj_obj(&j, "alternatives");
	for (int i = 0; i < 2; i++) {
		char key[32];

		snprintf(key, sizeof key, "polling_%ds_simulated", i ? 5 : 1);
		bj_stats(&j, key, &poll_rows[i]);
	}
	bj_stats(&j, "spawn_fork_exec_wait", &spawn_rows[0].s);
	bj_stats(&j, "spawn_posix_spawn_wait", &spawn_rows[1].s);
	bj_close(&j);
	bj_int(&j, "failures", failures);
	bj_end(&j);
	fclose(f);
	printf("\nwrote %s\n", path);
}

int main(int argc, char **argv)
{
	const char *out = "build/bench/native.json";
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: native_bench [--out FILE] [--quick] [--only "
					"latency,throughput,rt,idle,jobs,alt,restart]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	find_bindir();
	if (getenv("DOB_BENCH_T0_MS"))
		T0_MS = atoi(getenv("DOB_BENCH_T0_MS"));
	/* 1000 idle subscribers: both ends need the descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	printf("native_bench: dobrokerd (sim backend, Unix socket) vs raw Unix sockets, "
	       "same run%s\n", quick ? " (--quick)" : "");

	loadavg(load_start, sizeof load_start);
	int lat_events = quick ? 1000 : 4000;
	if (want("latency")) {
		note("commit baseline: %d appends + fdatasync at 1/ms", quick ? 200 : 1000);
		run_commit_baseline(quick ? 200 : 1000);
	}
	for (int i = 0; i < 3 && want("latency"); i++) {
		note("latency, %d subscribers, %d events at 1/ms", sub_counts[i], lat_events);
		run_latency(i, sub_counts[i], lat_events);
	}
	static const int cycles_full[3] = { 400, 200, 40 };
	for (int i = 0; i < 3 && want("throughput"); i++) {
		int cycles = quick ? cycles_full[i] / 4 : cycles_full[i];

		note("throughput, %d subscribers, %d events", sub_counts[i], 256 * cycles);
		run_throughput(i, sub_counts[i], 256, cycles);
	}
	if (want("rt")) {
		note("action round trip");
		run_action_rt(quick ? 500 : 3000);
	}
	if (want("idle")) {
		note("cost per idle subscriber");
		run_idle_subs(1000);
	}
	if (want("jobs")) {
		note("cost per job and per episode");
		run_job_costs(quick ? 300 : 1000);
	}
	if (want("alt")) {
		note("process spawn and polling");
		run_spawn(quick ? 100 : 500);
		bench_polling(poll_rows);
	}
	if (want("restart")) {
		note("restart with %d pending episodes", quick ? 2000 : 10000);
		run_restart(quick ? 2000 : 10000, quick ? 3 : 5);
	}
	loadavg(load_end, sizeof load_end);
	print_report();
	write_json(out);
	if (failures)
		printf("native_bench: %d measurement(s) FAILED (see stderr)\n", failures);
	return failures ? 1 : 0;
}
