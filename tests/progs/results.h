/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The RESULT lines the guest test programs print, in the form the guest
 * scripts' lib.sh prints and tests/run-all.sh counts:
 * "RESULT <prefix>_<name> PASS" or "RESULT <prefix>_<name> FAIL (<detail>)".
 */
#ifndef RVFIO_TESTS_RESULTS_H
#define RVFIO_TESTS_RESULTS_H

#include <stdarg.h>
#include <stdio.h>

/* Checks that failed so far: a program exits 1 if there is any. */
static int results_failed;

static void result_of(const char *prefix, const char *name, int pass, const char *fmt, ...)
{
	char detail[256] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (pass) {
		printf("RESULT %s_%s PASS\n", prefix, name);
	} else {
		printf("RESULT %s_%s FAIL (%s)\n", prefix, name, detail);
		results_failed++;
	}
}

#endif /* RVFIO_TESTS_RESULTS_H */
