/*
 * tests/fuzz/support/broker_input.h - the input format of fuzz_broker
 * (tests/fuzz/fuzz_broker.c), shared with the seed writer (gen_seeds.c).
 *
 * An input is a 4-byte header, then a stream of operations.
 *
 * Header:
 *   [0] who   bits 0-1 identity of the fuzzed connection (FB_ID_*)
 *             bit 2    role controller (else observer) when the harness says Hello
 *             bit 3    the preloaded jobs with an episode are still in ERROR in the
 *                      backend (else they left it silently: the first sweep sees it)
 *             bit 4    tiny journal compaction threshold (compacts every few appends)
 *             bit 5    at the end, restart the broker on its journal and compare
 *             bit 6    the backend holds act results from the start
 *             bit 7    the harness sends a Hello first (else the input must)
 *   [1] limits bits 0-1 max_frame 1024 / 4096 / 65536 / 1024
 *             bits 2-3 queue soft/hard 2/4, 8/16, 1024/8192, 1/2
 *             bit 4    max-inflight 1 (else 64)
 *             bit 5    max-jobs 1 (else 256)
 *             bit 6    max-conns 1 (else 64)
 *             bit 7    rate limit 10/s, burst 4 (else unlimited)
 *   [2] times bits 0-1 sweep interval 100 / 1000 / 5000 / 60000 ms
 *             bits 2-3 action timeout 100 / 1000 / 30000 / 5000 ms
 *             bits 4-5 handshake timeout 100 / 1000 / 5000 / 60000 ms
 *             bits 6-7 default deadline 0 / 500 / 5000 / 300000 ms
 *   [3] state bits 0-1 default policy none / resume / cancel / complete
 *             bit 2    policy max-resumes 1 (else 3), backoff 100 ms
 *             bit 3    the journal holds three jobs (FB_JOB0..2, owned by
 *                      FB_ID_USER, FB_ID_OTHER, FB_ID_SANDBOXED) and a past decision
 *             bit 4    ... with pending episodes 1 (JOB0) and 3 (JOB2)
 *             bit 5    ... with pending episode 2 (JOB1)
 *             bit 6    backend: the sim, playing a scenario (else a scripted fake)
 *             bit 7    a second connection (FB_ID_OTHER, controller, Hello sent)
 *
 * Operations: one byte, low 4 bits the opcode, high 4 bits its parameter P.
 */
#ifndef DOB_FUZZ_BROKER_INPUT_H
#define DOB_FUZZ_BROKER_INPUT_H

#define FB_HDR_LEN 4

/* identities */
#define FB_ID_PRIVILEGED 0
#define FB_ID_USER 1      /* uid 1000, S-1-5-21-1000 */
#define FB_ID_OTHER 2     /* uid 1001, S-1-5-21-1001 */
#define FB_ID_SANDBOXED 3 /* uid 1000 in AppContainer S-1-15-2-1 */

/* header bits */
#define FB_WHO_CONTROLLER 0x04
#define FB_WHO_STILL_ERROR 0x08
#define FB_WHO_COMPACT 0x10
#define FB_WHO_RESTART 0x20
#define FB_WHO_HOLD_ACTS 0x40
#define FB_WHO_HELLO 0x80
#define FB_STATE_JOBS 0x08
#define FB_STATE_EP_0_2 0x10
#define FB_STATE_EP_1 0x20
#define FB_STATE_SIM 0x40
#define FB_STATE_SECOND 0x80

/* The preloaded jobs: GUID bytes A0 00 .. 00 0N, N = 1, 2, 3 (the fake
 * backend numbers the jobs it creates on from 4). Episode ids 1-3 are
 * pending, 5 was resolved (a decision in the journal); new ones start at 6. */
#define FB_GUID_TAG 0xA0
#define FB_JOB0 1
#define FB_JOB1 2
#define FB_JOB2 3
#define FB_PAST_EPISODE 5
#define FB_NEXT_EPISODE 6

enum fb_op {
	FB_OP_DATA = 0,      /* next byte n, then n bytes to the current connection */
	FB_OP_DATA_LONG = 1, /* next 2 bytes n (LE), then n bytes */
	FB_OP_CLOCK = 2,     /* advance the clock by fb_clock_ms[P] */
	FB_OP_EVENT = 3,     /* next byte: job index (low 4 bits) and kind (bits 4-5:
			      * error, transferred, modified, missed); P picks the
			      * state (modified) or the HRESULT (error) */
	FB_OP_SET_STATE = 4, /* next byte job index; the job is in state P % 9, no callback */
	FB_OP_HOLD = 5,      /* P bit 0: hold act results; bit 1: hold every other result */
	FB_OP_RELEASE = 6,   /* deliver held results (P odd: the newest first) */
	FB_OP_ACT_HR = 7,    /* acts the backend carries out return fb_hresults[P] */
	FB_OP_GONE = 8,      /* next byte job index; the backend forgets the job */
	FB_OP_STALL = 9,     /* the current connection stops (P odd) / resumes reading */
	FB_OP_RECONNECT = 10,/* the current connection hangs up; a new one with identity
			      * P & 3 takes its place (Hello sent by the harness if P & 4) */
	FB_OP_SWITCH = 11,   /* data goes to connection P % 2 from now on */
	FB_OP_PUMP = 12,     /* let the loop run (writes, posts, due timers) */
	FB_OP_DISK = 13,     /* the journal's disk may take fb_disk_bytes[P] more bytes
			      * (a full disk; negative: room again) */
};

/* FB_OP_DISK room, bytes */
#define FB_DISK_BYTES { -1, 0, 8, 30, 100, 300, 1000, 3000, -1, 0, 0, 50, 200, 500, 2000, -1 }

/* FB_OP_CLOCK durations, ms */
#define FB_CLOCK_MS { 0, 1, 10, 50, 99, 100, 101, 500, 999, 1000, 1001, 4999, 5000, 5001, \
		      30000, 61000 }

/* HRESULTs (FB_OP_EVENT errors, FB_OP_ACT_HR) */
#define FB_HRESULTS { 0x00000000u, 0x80190194u, 0x80200002u, 0x80200001u, 0x80004005u, \
		      0x80D02013u, 0x80D02003u, 0x0020001Au, 0x00200017u, 0x80070005u, \
		      0x80190193u, 0x80200010u, 0x80070057u, 0x80D02002u, 0x80200024u, \
		      0x8020000Fu }

#endif
