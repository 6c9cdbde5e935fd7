/*
 * openssl_modexp: OpenSSL's constant-time modular exponentiation (BN_mod_exp_mont_consttime)
 * in the 1536-bit MODP group of OTR (RFC 3526 group 5), on the operands compare.sh writes,
 * with the Montgomery context precomputed (as our group parameters are).
 *
 * Written for Offrecord. SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Usage: openssl_modexp OPERANDS   (lines "p HEX", "base HEX", "e320 HEX", "e1536 HEX",
 *                                   "expect320 HEX", "expect1536 HEX")
 * Output: "openssl modexp_320 <median ns> <samples>" and the same for modexp_1536.
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>

static void die(const char *what)
{
    fprintf(stderr, "openssl_modexp: %s\n", what);
    exit(1);
}

static BIGNUM *operand(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    char key[64], *hex = malloc(4096);
    BIGNUM *bn = NULL;
    if (!f || !hex) die("cannot read the operands");
    while (fscanf(f, "%63s %4095s", key, hex) == 2) {
        if (strcmp(key, name) == 0) {
            if (!BN_hex2bn(&bn, hex)) die("bad hex");
            break;
        }
    }
    fclose(f);
    free(hex);
    if (!bn) die(name);
    return bn;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void measure(const char *name, int samples, const BIGNUM *base, const BIGNUM *e,
                    const BIGNUM *p, const BIGNUM *expect, BN_MONT_CTX *mont, BN_CTX *ctx)
{
    BIGNUM *r = BN_new();
    double *t = calloc((size_t)samples, sizeof *t);
    if (!r || !t) die("allocation");
    if (!BN_mod_exp_mont_consttime(r, base, e, p, ctx, mont)) die("modexp failed");
    if (BN_cmp(r, expect) != 0) die("modexp disagrees with the expected result");
    for (int i = 0; i < samples; i++) {
        double start = now_ns();
        if (!BN_mod_exp_mont_consttime(r, base, e, p, ctx, mont)) die("modexp failed");
        t[i] = now_ns() - start;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp_double);
    printf("openssl %s %.0f %d\n", name, (t[samples / 2 - 1] + t[samples / 2]) / 2, samples);
    BN_free(r);
    free(t);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OPERANDS\n", argv[0]);
        return 2;
    }
    BIGNUM *p = operand(argv[1], "p"), *base = operand(argv[1], "base");
    BIGNUM *e320 = operand(argv[1], "e320"), *e1536 = operand(argv[1], "e1536");
    BIGNUM *x320 = operand(argv[1], "expect320"), *x1536 = operand(argv[1], "expect1536");
    BN_CTX *ctx = BN_CTX_new();
    BN_MONT_CTX *mont = BN_MONT_CTX_new();
    if (!ctx || !mont || !BN_MONT_CTX_set(mont, p, ctx)) die("Montgomery context");
    BN_set_flags(e320, BN_FLG_CONSTTIME);
    BN_set_flags(e1536, BN_FLG_CONSTTIME);
    /* Counts: keep in step with crates/otr/benches/compare.rs. */
    measure("modexp_320", 200, base, e320, p, x320, mont, ctx);
    measure("modexp_1536", 50, base, e1536, p, x1536, mont, ctx);
    return 0;
}
