/*
 * tests/fakes/fake_files.h - controls of the real-file implementation of
 * platform.h's plat_mkdir_private / plat_file_* used by the unit tests
 * (tests/fakes/fake_files.c). The files are real (stdio/POSIX calls in a
 * mkdtemp directory); the controls inject the failures a disk can have.
 */
#ifndef DOB_FAKE_FILES_H
#define DOB_FAKE_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Back to normal: unlimited space, nothing fails, counters zero. */
void fake_files_reset(void);
/* Disk full after `bytes` more bytes written (over every file): a write
 * that does not fit writes what fits, then fails with -DOB_ENOSPC. A
 * negative value means unlimited. */
void fake_files_set_space(int64_t bytes);
/* Make plat_file_truncate / plat_file_replace fail with err (a negative
 * dob_err) until called again with 0. */
void fake_files_fail_truncate(int err);
void fake_files_fail_replace(int err);
/* Let `skip` calls of plat_file_open_append succeed, then fail the next one
 * with err, once. */
void fake_files_fail_open(int err, int skip);
/* Calls of plat_file_write that asked for sync. */
uint64_t fake_files_syncs(void);
/* Every sync (fsync) fails with err (a negative dob error) until set to 0. */
void fake_files_fail_sync(int err);

/* Test helpers: a new directory $TMPDIR/PREFIX-XXXXXX (/tmp without TMPDIR)
 * in buf: 0 or -1. And removal of a directory with everything below it. */
int fake_files_tmpdir(char *buf, size_t len, const char *prefix);
void fake_files_rm_tree(const char *dir);

#endif
