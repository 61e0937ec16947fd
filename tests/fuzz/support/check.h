/*
 * tests/fuzz/support/check.h - CHECK(c): a property a fuzz target asserts
 * on every input; a failure prints it and aborts (libFuzzer keeps the input).
 */
#ifndef DOB_FUZZ_CHECK_H
#define DOB_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort(); \
		} \
	} while (0)

#endif
