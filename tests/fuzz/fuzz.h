/*
 * fuzz.h - what every fuzz target provides and may use.  A target is one
 * file with LLVMFuzzerTestOneInput and its fuzz_words; with -Dfuzz=true it
 * is a libFuzzer target, otherwise replay.c gives it a main that replays
 * seeds and deterministic mutations of them (a test of the 'unit' suite).
 */
#ifndef MTASTS_FUZZ_H
#define MTASTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* One input; returns 0.  A broken property aborts (fuzz_assert). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Tokens of the target's grammar that replay's mutations insert, ending
 * with NULL (libFuzzer finds them itself from the comparisons). */
extern const char *const fuzz_words[];

/* A property that must hold for every input: a crash when it does not,
 * so that libFuzzer keeps the input and the test fails. */
#define fuzz_assert(cond)                                                      \
	((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

void fuzz_fail(const char *what, const char *file, int line)
    __attribute__((noreturn));

#endif
