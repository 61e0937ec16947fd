/*
 * broker/core/journal.h - the broker's durable record of managed jobs,
 * episodes and decisions (DESIGN.md "Durability").
 *
 * File format (journal.dob in the state directory): a sequence of records,
 * each  u32 LE length N | u32 LE CRC-32C of the N bytes | N bytes of a
 * dobroker.v1.JournalRecord. A record is appended (and written to the OS,
 * optionally fsync'ed) before the event it describes is published, so a
 * broker killed at any instant finds it on restart. At open, records are
 * replayed in order; the first record that is truncated or fails its CRC ends
 * the log: it and anything after it are dropped (the file is truncated
 * there, and a copy of a file with a bad record in the middle is kept as
 * journal.dob.corrupt for inspection). Nothing before it is lost.
 *
 * Compaction: when the file has grown past a threshold, the core writes a
 * snapshot of its live state (jobs, pending episodes, counters) to
 * journal.dob.tmp through the emit callback, and the journal renames it over
 * journal.dob, then appends there.
 *
 * Used only on the loop thread.
 */
#ifndef DOB_JOURNAL_H
#define DOB_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

struct journal;

struct journal_opts {
	const char *dir;           /* state directory (created if missing) */
	bool sync;                 /* make appends durable (fsync) at each journal_commit() */
	uint64_t compact_bytes;    /* compact when the file grows past this; 0 = 4 MiB */
};

/* Called for each valid record at open, in file order. Return 0, or a
 * negative error to abort the open. r is valid only during the call and
 * cleared after it: apply may take parts of it over (a decoded event moved
 * into the state it rebuilds), leaving what it took zeroed. */
typedef int (*journal_apply_fn)(void *ctx, struct dob_jrec *r);

struct journal_replay_info {
	uint64_t records;          /* valid records replayed */
	uint64_t bytes;            /* bytes kept */
	uint64_t dropped_bytes;    /* torn or corrupt tail dropped */
	char note[256];            /* what was dropped and why, empty if nothing */
};

int journal_open(const struct journal_opts *o, journal_apply_fn apply, void *ctx,
		 struct journal **out, struct journal_replay_info *info);
void journal_close(struct journal *j); /* NULL-safe */

/* Appends one record. 0, -DOB_ENOSPC (disk full: nothing was written that a
 * restart would misread; the caller refuses the new work), -DOB_EIO, or
 * -DOB_EFIELD (record invalid: a bug). */
int journal_append(struct journal *j, const struct dob_jrec *r);
/* Appends a JournalRecord body already encoded (dob_jrec_wrap_episode: the
 * caller vouches that it is a valid record); takes body over, freed also on
 * failure. Same returns as journal_append. */
int journal_append_body(struct journal *j, uint8_t *body, size_t len);
/* Group commit: makes every record appended since the last commit durable
 * with one fsync (when opts.sync), before any frame of the batch of work that
 * appended them is sent. 0, or -DOB_EIO (retried at the next commit). */
int journal_commit(struct journal *j);
/* Whether records wait for a commit (tests and benchmarks). */
uint64_t journal_commits_pending(const struct journal *j);

/* Snapshot writer given to compaction: the core calls emit() for every
 * record of its live state. */
typedef int (*journal_emit_fn)(struct journal *j, const struct dob_jrec *r);
typedef int (*journal_snapshot_fn)(void *ctx, struct journal *j, journal_emit_fn emit);

/* True when the file has grown past compact_bytes. */
bool journal_wants_compaction(const struct journal *j);
/* Writes a snapshot through fn to a temporary file and renames it over the
 * journal. On failure the old journal stays in use and intact. */
int journal_compact(struct journal *j, journal_snapshot_fn fn, void *ctx);

uint64_t journal_size(const struct journal *j);
uint64_t journal_appends(const struct journal *j);

#endif
