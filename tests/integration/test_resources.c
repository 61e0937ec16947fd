/*
 * Resources a broker holds, with real dobrokerd processes over real
 * sockets: the state directory's lock (one broker per journal), what a
 * refused connection leaves behind, TRUNCATED for a peer that stops inside
 * a frame, and the log lines a connection costs.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "harness.h"

static struct hb_broker B, B2;

static void fini(void)
{
	hb_cleanup(&B2);
	hb_cleanup(&B);
}

TestSuite(resources, .fini = fini, .timeout = 120);

/* Runs dobrokerd on endpoint with state_dir, stderr to log; returns its pid. */
static pid_t spawn_broker(const char *endpoint, const char *state_dir, const char *log)
{
	char ep[HB_PATH + 16], st[HB_PATH + 16];
	pid_t parent = getpid(), pid;

	snprintf(ep, sizeof ep, "--endpoint=%s", endpoint);
	snprintf(st, sizeof st, "--state-dir=%s", state_dir);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(hp_bin("dobrokerd"), "dobrokerd", ep, st, "--backend=sim", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Issue 9 item 7: two brokers on one state directory both started, both
 * replayed, and both issued episode 1. The second must refuse, naming the
 * pid that holds the directory, and never listen. */
Test(resources, a_second_broker_on_the_same_state_dir_refuses_naming_the_holder)
{
	char log[HB_PATH + 16], pid[32];
	struct stat st;
	pid_t p;
	int rc;

	hb_init(&B, NULL, NULL);
	hb_start(&B);
	hb_init(&B2, NULL, NULL); /* its own endpoint and directory for the log */
	snprintf(log, sizeof log, "%s/second.log", B2.dir);
	p = spawn_broker(B2.sock, B.state, log);
	rc = hp_wait(p, 20000);
	cr_assert(rc != 0 && rc != -1, "the second broker did not refuse (exit %d):\n%s", rc,
		  hp_read(log));
	snprintf(pid, sizeof pid, "pid %d", (int)B.pid);
	cr_expect(strstr(hp_read(log), "in use by another broker"), "%s", hp_read(log));
	cr_expect(strstr(hp_read(log), pid), "the holder (%s) is not named:\n%s", pid,
		  hp_read(log));
	cr_expect(stat(B2.sock, &st) != 0, "the second broker listened on %s", B2.sock);
	/* The first goes on. */
	struct dobc *c = hc_connect(B.sock, "after", DOB_ROLE_OBSERVER, NULL);
	cr_assert_eq(dobc_ping(c, NULL, 5000), 0);
	dobc_close(c);

	/* Killed with SIGKILL, the holder leaves no stale lock: the kernel
	 * drops it with the process. */
	hb_kill9(&B);
	p = spawn_broker(B2.sock, B.state, log);
	for (int i = 0; i < 500 && stat(B2.sock, &st) != 0; i++)
		usleep(20000);
	cr_assert(stat(B2.sock, &st) == 0, "no broker after the holder died:\n%s", hp_read(log));
	c = hc_connect(B2.sock, "second", DOB_ROLE_OBSERVER, NULL);
	cr_assert_eq(dobc_ping(c, NULL, 5000), 0);
	dobc_close(c);
	kill(p, SIGTERM);
	cr_expect_eq(hp_wait(p, 10000), 0, "%s", hp_read(log));
}

/* Issue 9 item 8: refused connections (TOO_MANY_CONNECTIONS) each get their
 * ProtocolError and leave nothing: no fd, and the broker goes on serving.
 * (Memory per refusal is counted with the allocation hook in the unit and
 * platform tests.) */
Test(resources, thousands_of_refusals_leave_no_fd_and_each_gets_its_reason)
{
	enum { REFUSALS = 2000 };
	struct dob_msg m;

	hb_init(&B, NULL, "--max-conns=2", "--log-level=warn", NULL);
	hb_start(&B);
	struct dobc *a = hc_connect(B.sock, "a", DOB_ROLE_OBSERVER, NULL);
	struct dobc *b = hc_connect(B.sock, "b", DOB_ROLE_OBSERVER, NULL);
	int fds0 = hp_fd_count(B.pid);

	for (int i = 0; i < REFUSALS; i++) {
		struct hr_conn *r = malloc(sizeof *r);

		cr_assert(r);
		hr_open(r, B.sock);
		cr_assert_eq(hr_until(r, DOB_MSG_PROTOCOL_ERROR, &m, 5000), 0, "refusal %d", i);
		cr_assert_eq(m.u.protocol_error.code, DOB_PERR_TOO_MANY_CONNECTIONS);
		dob_msg_clear(&m);
		cr_assert_eq(hr_next(r, &m, 5000), -DOB_ECLOSED, "refusal %d not closed", i);
		hr_close(r);
		free(r);
	}
	cr_assert_eq(dobc_ping(a, NULL, 5000), 0);
	int fds1 = hp_fd_count(B.pid);
	cr_expect_eq(fds1, fds0, "broker fds %d -> %d after %d refusals", fds0, fds1, REFUSALS);
	dobc_close(a);
	dobc_close(b);
}

/* Issue 9 item 12: docs/protocol.md promises TRUNCATED for a stream that
 * ends inside a frame; a peer that half-closes now reads it. */
Test(resources, a_peer_that_half_closes_inside_a_frame_reads_truncated)
{
	static const uint8_t part[] = { 40, 0, 0, 0, 0x0a, 0x02, 0x08 }; /* 3 of 40 bytes */
	struct hr_conn r;
	struct dob_msg m;

	hb_init(&B, NULL, NULL);
	hb_start(&B);
	hr_open(&r, B.sock);
	hr_hello(&r, "half", DOB_ROLE_OBSERVER);
	cr_assert_eq(hr_until(&r, DOB_MSG_WELCOME, &m, 5000), 0);
	dob_msg_clear(&m);
	hr_send(&r, part, sizeof part);
	cr_assert_eq(shutdown(r.fd, SHUT_WR), 0);
	cr_assert_eq(hr_until(&r, DOB_MSG_PROTOCOL_ERROR, &m, 5000), 0, "no ProtocolError:\n%s",
		     hb_log_tail(&B));
	cr_expect_eq(m.u.protocol_error.code, DOB_PERR_TRUNCATED, "%s (%s)",
		     dob_perr_name(m.u.protocol_error.code), m.u.protocol_error.message);
	dob_msg_clear(&m);
	cr_expect_eq(hr_next(&r, &m, 5000), -DOB_ECLOSED);
	hr_close(&r);
	/* Also inside the length prefix, before any Hello. */
	hr_open(&r, B.sock);
	hr_send(&r, part, 2);
	cr_assert_eq(shutdown(r.fd, SHUT_WR), 0);
	cr_assert_eq(hr_until(&r, DOB_MSG_PROTOCOL_ERROR, &m, 5000), 0);
	cr_expect_eq(m.u.protocol_error.code, DOB_PERR_TRUNCATED);
	dob_msg_clear(&m);
	hr_close(&r);
}

/* Issue 12: 100 pings were 100 info lines. Connect, hello, ping and
 * disconnect are debug lines now; the info log stays quiet. */
Test(resources, connections_and_pings_log_nothing_at_info)
{
	hb_init(&B, NULL, "--log-level=info", NULL);
	hb_start(&B);
	int before = hp_count(hp_read(B.log), " info ");

	for (int i = 0; i < 30; i++) {
		struct dobc *c = hc_connect(B.sock, "pinger", DOB_ROLE_OBSERVER, NULL);
		cr_assert_eq(dobc_ping(c, NULL, 5000), 0);
		dobc_close(c);
	}
	/* One more connection that asks for stats: the broker has handled
	 * every close above before it answers (one loop, in order). */
	struct dobc *c = hc_connect(B.sock, "last", DOB_ROLE_OBSERVER, NULL);
	struct dob_stats st = hc_stats(c);
	dobc_stats_clear(&st);
	dobc_close(c);
	int after = hp_count(hp_read(B.log), " info ");
	cr_expect_eq(after, before, "%d info lines for 31 connections:\n%s", after - before,
		     hb_log_tail(&B));
	cr_expect_eq(hp_count(hp_read(B.log), "hello from"), 0, "hello logged at info");
}

/* Issue 12: `dobctl stats` run alone counted itself as a subscriber. */
Test(resources, stats_do_not_count_the_asking_client)
{
	hb_init(&B, NULL, NULL);
	hb_start(&B);
	struct dobc *c = hc_connect(B.sock, "stats", DOB_ROLE_OBSERVER, NULL);
	struct dob_stats st = hc_stats(c);

	cr_expect_eq(st.subscribers, 0, "the asking client counted itself");
	dobc_stats_clear(&st);
	struct dobc *w = hc_connect(B.sock, "watcher", DOB_ROLE_OBSERVER, NULL);
	st = hc_stats(c);
	cr_expect_eq(st.subscribers, 1);
	dobc_stats_clear(&st);
	dobc_close(w);
	dobc_close(c);
}
