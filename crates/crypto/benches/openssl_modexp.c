/* OpenSSL's constant-time modexp on the operands of benches/modexp.rs, for a side-by-side
 * figure: cc -O2 -o /tmp/openssl_modexp crates/crypto/benches/openssl_modexp.c -lcrypto
 * Prints the median and the minimum wall-clock microseconds of 201 single calls for a 320-bit
 * and a 1536-bit exponent (the minimum is the figure least disturbed by other load). */
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *P =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA237327FFFFFFFFFFFFFFFF";

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define SAMPLES 201

/* Times single calls (a call takes a fraction of a scheduler slice, so on a loaded machine many
 * samples run undisturbed); prints the median, returns the minimum. */
static double bench(BIGNUM *r, BIGNUM *base, BIGNUM *e, BIGNUM *p, BN_CTX *ctx, BN_MONT_CTX *mont) {
    static double samples[SAMPLES];
    BN_mod_exp_mont_consttime(r, base, e, p, ctx, mont);
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = now_us();
        BN_mod_exp_mont_consttime(r, base, e, p, ctx, mont);
        samples[s] = now_us() - t0;
    }
    qsort(samples, SAMPLES, sizeof(double), cmp);
    printf("  median %.1f us, min", samples[SAMPLES / 2]);
    return samples[0];
}

int main(void) {
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = NULL, *base = BN_new(), *e320 = BN_new(), *e1536 = BN_new(), *r = BN_new();
    BN_hex2bn(&p, P);
    BN_MONT_CTX *mont = BN_MONT_CTX_new();
    BN_MONT_CTX_set(mont, p, ctx);
    BN_rand_range(base, p);
    BN_rand(e320, 320, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY);
    BN_rand(e1536, 1536, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY);
    BN_set_flags(e320, BN_FLG_CONSTTIME);
    BN_set_flags(e1536, BN_FLG_CONSTTIME);
    printf("openssl BN_mod_exp_mont_consttime 1536-bit p, 320-bit exponent:\n");
    printf(" %.1f us\n",
           bench(r, base, e320, p, ctx, mont));
    printf("openssl BN_mod_exp_mont_consttime 1536-bit p, 1536-bit exponent:\n");
    printf(" %.1f us\n",
           bench(r, base, e1536, p, ctx, mont));
    return 0;
}
