/*
 * fuzz.h -- what the libFuzzer targets (fuzz_*.c) and their replay in the
 * normal test suite (tests/unit/test_fuzz_regress.c) share.
 *
 * Every target is a function fuzz_NAME_one(data, size) that runs one input
 * through the code under test and checks what it can (oracles: the two CSR
 * decoders agree, a job record survives emit and parse, a reply whose MAC
 * was made right verifies, ...). A disagreement is reported on stderr and
 * abort()s, which libFuzzer saves as a crash and which fails the replay
 * test. The targets are deterministic: fixed clocks, fixed keys, fixed
 * temporary file names per process, and no state carried from one input to
 * the next except what is set up once (the Public Suffix List, a folder).
 *
 * A fuzz_NAME.c file ends with DCV_FUZZ_ENTRY(fuzz_NAME_one), which
 * defines LLVMFuzzerTestOneInput unless DCV_FUZZ_REPLAY is defined (the
 * replay test includes the target files themselves, so that it needs no
 * build rule of its own).
 */
#ifndef DCV_FUZZ_H
#define DCV_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcv/err.h"
#include "tsig.h"

int fuzz_csr_one(const uint8_t *data, size_t size);
int fuzz_config_one(const uint8_t *data, size_t size);
int fuzz_sidecar_one(const uint8_t *data, size_t size);
int fuzz_keyfile_one(const uint8_t *data, size_t size);
int fuzz_jobrec_one(const uint8_t *data, size_t size);
int fuzz_reply_one(const uint8_t *data, size_t size);

/* Reports a broken oracle (printf-like, one line) and aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__VA_ARGS__);                                                    \
	} while (0)

/*
 * A private folder for this process, made on first use (mkdtemp under
 * $TMPDIR or /tmp) and removed with its files at exit.
 */
const char *fuzz_tmpdir(void);

/* FOLDER/name into buf (of size bytes); returns buf. */
char *fuzz_path(const char *name, char *buf, size_t size);

/* Writes data to path (created with mode, truncated, mode set); aborts when it cannot. */
void fuzz_write_file(const char *path, const void *data, size_t size, unsigned mode);

/* The Public Suffix List, loaded once (dcv_psl_load). */
struct dcv_psl;
const struct dcv_psl *fuzz_psl(void);

/* Standard base64 of in (NUL-terminated) into out, which holds 4 * ceil(n / 3) + 1 bytes. */
void fuzz_base64(const uint8_t *in, size_t n, char *out);

/*
 * The secrets an input writes in plain sight: the values of YAML "secret"
 * keys (yaml) or the token after a BIND "secret" word. Only values that no
 * other text of the input holds, of 16 bytes or more, not naming an HMAC
 * and no part of the private folder's path are listed, so that a message
 * quoting some other part of the input is not taken for a leak. Appends to
 * out.
 */
struct dcv_strv;
void fuzz_secrets_find(const uint8_t *data, size_t size, bool yaml, struct dcv_strv *out);

/* The first of secrets that text holds, or NULL. */
const char *fuzz_secrets_shown(const struct dcv_strv *secrets, const char *text);

/* --- the fixed TSIG setting of fuzz_reply and its seed generator ------------- */

/* The key every fuzzed reply is checked against: "fuzz-key" hmac-sha256. */
#define FUZZ_KEY_NAME "fuzz-key"
#define FUZZ_KEY_SECRET "ZnV6ei1rZXktc2VjcmV0LWZvci1kY3ZkLXJlcGxpZXM="
/* The clock of the request and of every check (2023-11-14T22:13:20Z). */
#define FUZZ_NOW UINT64_C(1700000000)
/* The query name of the request ("_<md5>.www.example.com."). */
#define FUZZ_QNAME "_0123456789abcdef0123456789abcdef.www.example.com."
#define FUZZ_ZONE "example.com"

/*
 * The signed request: a CNAME query for FUZZ_QNAME with ID 0x1234 signed
 * with the fuzz key at FUZZ_NOW. Fills msg (at least 512 bytes) and ctx,
 * whose key points to static storage. Deterministic.
 */
void fuzz_tsig_request(uint8_t *msg, size_t *len, struct dcv_tsig_ctx *ctx);

/*
 * An independent reply signer (RFC 8945 §4.3, written from the RFC, not
 * from tsig.c): when the last record of msg is a TSIG record with a MAC
 * of the key's full length, recompute that MAC for the request of ctx over
 * the message as it is and write it in place. Returns true when it did
 * (false leaves msg alone: no TSIG, misplaced, malformed, another length).
 */
bool fuzz_tsig_patch(uint8_t *msg, size_t len, const struct dcv_tsig_ctx *ctx);

/*
 * What dcv_tsig_verify() must say about msg after fuzz_tsig_patch()
 * succeeded, from the RFC's rules alone; 1 when the message is outside
 * what this oracle judges (a TSIG of another name or algorithm, odd class
 * or TTL: other code paths decide those).
 */
int fuzz_tsig_expect(const uint8_t *msg, size_t len, const struct dcv_tsig_ctx *ctx, uint64_t now);

#ifdef DCV_FUZZ_REPLAY
#define DCV_FUZZ_ENTRY(fn)
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define DCV_FUZZ_ENTRY(fn)                                                                         \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                               \
	{                                                                                          \
		return fn(data, size);                                                             \
	}
#endif

#endif
