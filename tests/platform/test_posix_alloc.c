/*
 * tests/platform/test_posix_alloc.c - every allocation of the platform layer
 * may fail: a clean -DOB_ENOMEM (or a refused connection), nothing leaked,
 * nothing left on disk, and the layer works again afterwards.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "harness.h"

static char *dir;

static void setup(void)
{
	dir = tdir_new();
}

static void teardown(void)
{
	dob_alloc_fail_at(0);
	tdir_free(dir);
}

TestSuite(posix_alloc, .init = setup, .fini = teardown, .timeout = 60);

static void ignore_post(void *ctx, void *msg)
{
	(void)ctx;
	free(msg);
}

Test(posix_alloc, loop_new_and_listen_fail_cleanly_at_every_allocation)
{
	struct plat_handlers h = { .posted = ignore_post };
	char *sock = tpath(dir, "b.sock"), *alt = tpath(dir, "alt.sock"), spec[300];
	const char *specs[] = { spec, NULL };
	struct plat_listen_opts o = { .endpoint = sock, .test_listeners = specs };
	uint64_t k;
	int failures = 0;

	snprintf(spec, sizeof spec, "%s=uid:1000,sid:S-1-5-21-9,appcontainer:S-1-15-2-1", alt);
	for (k = 1; k < 1000; k++) {
		int64_t live0 = dob_alloc_live();
		struct plat_loop *l = NULL;
		char err[512] = "";
		bool reached;
		int rc;

		dob_alloc_reset();
		dob_alloc_fail_at(k);
		rc = plat_loop_new(&l, &h);
		if (rc == 0)
			rc = plat_listen(l, &o, err, sizeof err);
		reached = dob_alloc_count() >= k;
		dob_alloc_fail_at(0);
		if (rc != 0) {
			failures++;
			cr_expect_eq(rc, -DOB_ENOMEM, "allocation %llu: %d (%s)", (unsigned long long)k,
				     rc, err);
			cr_expect(!l || err[0] != '\0', "allocation %llu: no message",
				  (unsigned long long)k);
			if (l)
				cr_expect_neq(access(sock, F_OK), 0, "allocation %llu: socket left",
					      (unsigned long long)k);
		}
		plat_loop_free(l);
		cr_expect_eq(dob_alloc_live(), live0, "allocation %llu: leaked",
			     (unsigned long long)k);
		cr_expect_neq(access(sock, F_OK), 0);
		cr_expect_neq(access(alt, F_OK), 0);
		if (!reached) {
			cr_expect_eq(rc, 0, "allocation %llu: failed with no failure injected",
				     (unsigned long long)k);
			break;
		}
	}
	cr_expect(k < 1000 && failures >= 6, "%d allocations failed in %llu", failures,
		  (unsigned long long)k);
	free(sock);
	free(alt);
}

struct msg {
	int kind; /* 100 */
	int seq;
};

struct order {
	int next;
	int bad;
};

static void on_msg(struct tcore *tc, void *m)
{
	struct order *o = tc->user;
	struct msg *mm = m;

	if (mm->seq != o->next)
		o->bad++;
	o->next = mm->seq + 1;
	free(mm);
}

static struct msg *new_msg(int seq)
{
	struct msg *m = malloc(sizeof *m);

	cr_assert(m);
	m->kind = 100;
	m->seq = seq;
	return m;
}

Test(posix_alloc, post_that_cannot_grow_its_queue_returns_enomem_and_keeps_the_rest)
{
	struct tcore tc;
	struct order o = { 0, 0 };
	struct msg *m;
	int seq = 0;

	tcore_init(&tc, TMODE_SINK);
	tc.user = &o;
	tc.on_post = on_msg;
	/* The first post allocates the queue. */
	m = new_msg(seq);
	dob_alloc_fail_at(1);
	cr_expect_eq(plat_post(tc.loop, m), -DOB_ENOMEM);
	dob_alloc_fail_at(0);
	cr_assert_eq(plat_post(tc.loop, m), 0, "the caller kept it and posts again");
	seq++;
	/* Fill it (not running: nothing drains), then make growing fail. */
	for (int i = 0; i < 63; i++)
		cr_assert_eq(plat_post(tc.loop, new_msg(seq++)), 0);
	m = new_msg(seq);
	dob_alloc_fail_at(1);
	cr_expect_eq(plat_post(tc.loop, m), -DOB_ENOMEM);
	dob_alloc_fail_at(0);
	cr_assert_eq(plat_post(tc.loop, m), 0);
	seq++;
	tcore_start(&tc);
	tcore_stop(&tc);
	tcore_done(&tc); /* delivers what is left */
	cr_expect_eq(o.next, seq, "%d of %d delivered", o.next, seq);
	cr_expect_eq(o.bad, 0, "out of order");
}

Test(posix_alloc, accept_that_cannot_allocate_refuses_that_conn_and_takes_the_next)
{
	struct tcore tc;
	char *sock = tpath(dir, "b.sock"), err[256], buf[2];
	int a, b;

	tcore_init(&tc, TMODE_ECHO);
	cr_assert_eq(tcore_listen(&tc, sock, NULL, err, sizeof err), 0, "%s", err);
	tcore_start(&tc);
	dob_alloc_fail_at(1); /* the loop is idle: its next allocation is the conn */
	a = tclient_connect(sock);
	cr_assert(a >= 0);
	cr_expect_eq(tread_one(a, 5000), 0, "the refused conn was not closed");
	dob_alloc_fail_at(0);
	cr_expect_eq(atomic_load(&tc.accepted), 0);
	b = tclient_connect(sock);
	cr_assert(b >= 0);
	tsend_all(b, "ok", 2);
	cr_expect_eq(trecv_exact(b, buf, 2, 5000), 2);
	cr_expect_eq(atomic_load(&tc.accepted), 1);
	close(a);
	close(b);
	tcore_done(&tc);
	free(sock);
}
