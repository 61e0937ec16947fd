/*
 * tests/fuzz/support/mem_files.h - an in-memory file system behind
 * platform.h's plat_mkdir_private / plat_file_* for the fuzz targets
 * (mem_files.c): no disk is touched, whatever a fuzzed input asks for.
 */
#ifndef DOB_MEM_FILES_H
#define DOB_MEM_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Forgets every file. */
void mem_files_reset(void);
/* Creates or replaces path with n bytes of p. 0, or -1 when memory ran out. */
int mem_files_put(const char *path, const void *p, size_t n);
/* The bytes of path (valid until the file changes), or NULL when missing. */
const uint8_t *mem_files_get(const char *path, size_t *n);
/* A full disk: plat_file_write may write `bytes` more bytes (over every
 * file); one that does not fit writes what fits and fails with -DOB_ENOSPC.
 * Negative: unlimited (the default; mem_files_reset restores it). */
void mem_files_set_space(int64_t bytes);

#endif
