/*
 * libotr_bench: the workloads of Offrecord's bench/compare.sh, run with libotr 4.1.1
 * in-process: two OtrlUserState ("alice" and "bob"), every injected message passed through
 * in-memory queues, the same message sizes and counts as the Rust side
 * (crates/otr/benches/compare.rs).
 *
 * Written for Offrecord against libotr's public API only.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Usage: libotr_bench WORKDIR   (keys and instance tags are generated there once)
 * Output: one line per workload, "libotr <name> <median nanoseconds per operation> <samples>".
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gcrypt.h>

#include <libotr/proto.h>
#include <libotr/context.h>
#include <libotr/instag.h>
#include <libotr/message.h>
#include <libotr/privkey.h>
#include <libotr/tlv.h>
#include <libotr/userstate.h>

#define PROTO "bench"

/* One endpoint: its user state, account, peer and the queue of messages addressed to it. */
struct side {
    OtrlUserState us;
    const char *account;
    const char *peer;
    struct side *other;
    char **queue;
    size_t len, cap;
    int smp_asked;
    int smp_success;
    int failures;
};

static struct side alice, bob;
static const OtrlMessageAppOps ops;

static void die(const char *what, gcry_error_t err)
{
    fprintf(stderr, "libotr_bench: %s: %s\n", what, err ? gcry_strerror(err) : "failed");
    exit(1);
}

static void push(struct side *to, const char *message)
{
    if (to->len == to->cap) {
        to->cap = to->cap ? to->cap * 2 : 16;
        to->queue = realloc(to->queue, to->cap * sizeof *to->queue);
        if (!to->queue) die("realloc", 0);
    }
    to->queue[to->len++] = strdup(message);
}

static OtrlPolicy cb_policy(void *opdata, ConnContext *context)
{
    (void)opdata; (void)context;
    return OTRL_POLICY_DEFAULT;
}

static void cb_create_privkey(void *opdata, const char *a, const char *p)
{
    (void)opdata; (void)a; (void)p;
    die("libotr asked for a key that should exist", 0);
}

static int cb_is_logged_in(void *opdata, const char *a, const char *p, const char *r)
{
    (void)opdata; (void)a; (void)p; (void)r;
    return 1;
}

static void cb_inject_message(void *opdata, const char *a, const char *p, const char *r,
                              const char *message)
{
    struct side *from = opdata;
    (void)a; (void)p; (void)r;
    push(from->other, message);
}

static void cb_noop(void *opdata) { (void)opdata; }

static void cb_new_fingerprint(void *opdata, OtrlUserState u, const char *a, const char *p,
                               const char *username, unsigned char fp[20])
{
    (void)opdata; (void)u; (void)a; (void)p; (void)username; (void)fp;
}

static void cb_context(void *opdata, ConnContext *context) { (void)opdata; (void)context; }

static void cb_still_secure(void *opdata, ConnContext *context, int is_reply)
{
    (void)opdata; (void)context; (void)is_reply;
}

static const char *cb_account_name(void *opdata, const char *account, const char *protocol)
{
    (void)opdata; (void)protocol;
    return account;
}

static void cb_account_name_free(void *opdata, const char *name) { (void)opdata; (void)name; }

static void cb_received_symkey(void *opdata, ConnContext *c, unsigned int use,
                               const unsigned char *usedata, size_t usedatalen,
                               const unsigned char *symkey)
{
    (void)opdata; (void)c; (void)use; (void)usedata; (void)usedatalen; (void)symkey;
}

static const char *cb_otr_error_message(void *opdata, ConnContext *c, OtrlErrorCode code)
{
    (void)opdata; (void)c; (void)code;
    return "error";
}

static void cb_otr_error_message_free(void *opdata, const char *m) { (void)opdata; (void)m; }

static void cb_handle_smp_event(void *opdata, OtrlSMPEvent ev, ConnContext *context,
                                unsigned short progress, char *question)
{
    struct side *s = opdata;
    (void)context; (void)progress; (void)question;
    if (ev == OTRL_SMPEVENT_ASK_FOR_ANSWER || ev == OTRL_SMPEVENT_ASK_FOR_SECRET) s->smp_asked = 1;
    else if (ev == OTRL_SMPEVENT_SUCCESS) s->smp_success = 1;
    else if (ev != OTRL_SMPEVENT_IN_PROGRESS) s->failures++;
}

static void cb_handle_msg_event(void *opdata, OtrlMessageEvent ev, ConnContext *c,
                                const char *message, gcry_error_t err)
{
    struct side *s = opdata;
    (void)c; (void)message; (void)err;
    if (ev != OTRL_MSGEVENT_LOG_HEARTBEAT_RCVD && ev != OTRL_MSGEVENT_LOG_HEARTBEAT_SENT &&
        ev != OTRL_MSGEVENT_NONE)
        s->failures++;
}

static void cb_create_instag(void *opdata, const char *a, const char *p)
{
    (void)opdata; (void)a; (void)p;
    die("libotr asked for an instance tag that should exist", 0);
}

static void cb_timer_control(void *opdata, unsigned int interval) { (void)opdata; (void)interval; }

static const OtrlMessageAppOps ops = {
    .policy = cb_policy,
    .create_privkey = cb_create_privkey,
    .is_logged_in = cb_is_logged_in,
    .inject_message = cb_inject_message,
    .update_context_list = cb_noop,
    .new_fingerprint = cb_new_fingerprint,
    .write_fingerprints = cb_noop,
    .gone_secure = cb_context,
    .gone_insecure = cb_context,
    .still_secure = cb_still_secure,
    .max_message_size = NULL, /* never fragment, like our Config::default() */
    .account_name = cb_account_name,
    .account_name_free = cb_account_name_free,
    .received_symkey = cb_received_symkey,
    .otr_error_message = cb_otr_error_message,
    .otr_error_message_free = cb_otr_error_message_free,
    .resent_msg_prefix = NULL,
    .resent_msg_prefix_free = NULL,
    .handle_smp_event = cb_handle_smp_event,
    .handle_msg_event = cb_handle_msg_event,
    .create_instag = cb_create_instag,
    .convert_msg = NULL,
    .convert_free = NULL,
    .timer_control = cb_timer_control,
};

/* s receives one message from its peer; returns the plaintext delivered (caller frees) or
 * NULL. */
static char *receive(struct side *s, const char *message)
{
    char *newmsg = NULL;
    OtrlTLV *tlvs = NULL;
    int internal = otrl_message_receiving(s->us, &ops, s, s->account, PROTO, s->peer, message,
                                          &newmsg, &tlvs, NULL, NULL, NULL);
    otrl_tlv_free(tlvs);
    if (internal) {
        otrl_message_free(newmsg);
        return NULL;
    }
    return newmsg;
}

/* Delivers every queued message (and what it causes) until both queues are empty. Returns
 * the number of plaintexts delivered to users. */
static int run(void)
{
    int delivered = 0;
    while (alice.len || bob.len) {
        struct side *sides[2] = {&bob, &alice};
        for (int i = 0; i < 2; i++) {
            struct side *s = sides[i];
            /* Take the queue: receiving may push to the other side's queue only. */
            while (s->len) {
                char *m = s->queue[0];
                memmove(s->queue, s->queue + 1, (s->len - 1) * sizeof *s->queue);
                s->len--;
                char *got = receive(s, m);
                if (got) {
                    delivered++;
                    otrl_message_free(got);
                }
                free(m);
            }
        }
    }
    return delivered;
}

static ConnContext *context_of(struct side *s)
{
    return otrl_context_find(s->us, s->peer, s->account, PROTO, OTRL_INSTAG_BEST, 0, NULL, NULL,
                             NULL);
}

static int encrypted(struct side *s)
{
    ConnContext *c = context_of(s);
    return c && c->msgstate == OTRL_MSGSTATE_ENCRYPTED;
}

/* s sends text to its peer (libotr injects the wire message itself). */
static void send_text(struct side *s, const char *text)
{
    char *newmsg = NULL;
    gcry_error_t err = otrl_message_sending(s->us, &ops, s, s->account, PROTO, s->peer,
                                            OTRL_INSTAG_BEST, text, NULL, &newmsg,
                                            OTRL_FRAGMENT_SEND_ALL, NULL, NULL, NULL);
    if (err) die("otrl_message_sending", err);
    otrl_message_free(newmsg);
}

/* One message from s to its peer, received there. */
static void one_message(struct side *s, const char *text)
{
    send_text(s, text);
    if (run() != 1) die("a data message was not delivered", 0);
}

static void ake(void)
{
    otrl_context_forget_all(alice.us);
    otrl_context_forget_all(bob.us);
    char *q = otrl_proto_default_query_msg(alice.account, OTRL_POLICY_DEFAULT);
    push(&bob, q);
    free(q);
    run();
    if (!encrypted(&alice) || !encrypted(&bob)) die("the AKE did not complete", 0);
}

static void smp(void)
{
    static const unsigned char secret[] = "secret";
    alice.smp_success = bob.smp_success = bob.smp_asked = 0;
    otrl_message_initiate_smp_q(alice.us, &ops, &alice, context_of(&alice), "q?", secret,
                                sizeof secret - 1);
    run();
    if (!bob.smp_asked) die("SMP: bob was not asked", 0);
    otrl_message_respond_smp(bob.us, &ops, &bob, context_of(&bob), secret, sizeof secret - 1);
    run();
    if (!alice.smp_success || !bob.smp_success) die("SMP did not succeed", 0);
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

/* Runs `samples` samples of `per_sample` operations; prints the median per operation. */
static void measure(const char *name, int samples, int per_sample, void (*op)(void *), void *arg)
{
    double *t = calloc((size_t)samples, sizeof *t);
    if (!t) die("calloc", 0);
    op(arg); /* warm-up */
    for (int i = 0; i < samples; i++) {
        double start = now_ns();
        for (int j = 0; j < per_sample; j++) op(arg);
        t[i] = (now_ns() - start) / per_sample;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp_double);
    double median = samples % 2 ? t[samples / 2] : (t[samples / 2 - 1] + t[samples / 2]) / 2;
    printf("libotr %s %.0f %d\n", name, median, samples);
    fflush(stdout);
    free(t);
    if (alice.failures || bob.failures) die(name, 0);
}

static void op_ake(void *arg) { (void)arg; ake(); }
static void op_smp(void *arg) { (void)arg; smp(); }
static void op_one_way(void *arg) { one_message(&alice, arg); }
static void op_ping_pong(void *arg)
{
    /* Two messages; measure() is told two operations per call via per_sample. */
    one_message(&alice, arg);
    one_message(&bob, arg);
}

static char *text_of(size_t len)
{
    char *t = malloc(len + 1);
    if (!t) die("malloc", 0);
    for (size_t i = 0; i < len; i++) t[i] = (char)('a' + i % 26);
    t[len] = 0;
    return t;
}

static void setup(struct side *s, const char *account, const char *peer, struct side *other,
                  const char *dir)
{
    char keyfile[4096], tagfile[4096];
    gcry_error_t err;
    s->us = otrl_userstate_create();
    s->account = account;
    s->peer = peer;
    s->other = other;
    snprintf(keyfile, sizeof keyfile, "%s/%s.key", dir, account);
    snprintf(tagfile, sizeof tagfile, "%s/%s.instag", dir, account);
    FILE *f = fopen(keyfile, "r");
    if (f) {
        fclose(f);
        err = otrl_privkey_read(s->us, keyfile);
    } else {
        err = otrl_privkey_generate(s->us, keyfile, account, PROTO);
    }
    if (err) die("private key", err);
    f = fopen(tagfile, "r");
    if (f) {
        fclose(f);
        err = otrl_instag_read(s->us, tagfile);
    } else {
        err = otrl_instag_generate(s->us, tagfile, account, PROTO);
    }
    if (err) die("instance tag", err);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
        return 2;
    }
    OTRL_INIT;
    setup(&alice, "alice", "bob", &bob, argv[1]);
    setup(&bob, "bob", "alice", &alice, argv[1]);

    char *small = text_of(100), *big = text_of(10 * 1024);
    /* Counts: keep in step with crates/otr/benches/compare.rs. */
    measure("ake", 30, 1, op_ake, NULL);
    /* From here on alice and bob are in one encrypted session (the last AKE). */
    measure("smp", 10, 1, op_smp, NULL);
    ake();
    one_message(&alice, small); /* the first message rotates bob's key */
    measure("one_way_100B", 30, 1000, op_one_way, small);
    ake();
    one_message(&alice, big);
    measure("one_way_10KiB", 30, 100, op_one_way, big);
    ake();
    /* per_sample 5 calls of two messages each: divide by two for "per message". */
    {
        double *t = calloc(20, sizeof *t);
        if (!t) die("calloc", 0);
        op_ping_pong(small);
        for (int i = 0; i < 20; i++) {
            double start = now_ns();
            for (int j = 0; j < 5; j++) op_ping_pong(small);
            t[i] = (now_ns() - start) / 10;
        }
        qsort(t, 20, sizeof *t, cmp_double);
        printf("libotr ping_pong_100B %.0f %d\n", (t[9] + t[10]) / 2, 20);
        free(t);
        if (alice.failures || bob.failures) die("ping_pong", 0);
    }
    free(small);
    free(big);
    return 0;
}
