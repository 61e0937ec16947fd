/*
 * tests/san/criterion_lsan.c - linked into every Criterion binary.
 *
 * Criterion 2.4's runner process (not a test process: those have BXFI_MAP
 * in their environment) leaks a few blocks of its own now and then, and
 * LeakSanitizer (SAN builds) would fail the whole binary for them. They are
 * ignored in the runner only. A test process reports every leak; Criterion
 * does not count that as a failed test (its exit status comes after the
 * result), so scripts/check.sh fails a suite whose output holds a sanitizer
 * report, and the tests that can also check dob_alloc_live() in their body.
 */
#include <stdlib.h>

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return getenv("BXFI_MAP") ? "" : "leak:libcriterion.so\n";
}
