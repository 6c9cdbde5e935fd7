/*
 * libotr-peer: one libotr 4.1.x endpoint driven by the OTR peer protocol
 * (shared/otr-peer-protocol.md), the interop partner for Offrecord's tests.
 *
 * Written for Offrecord against libotr's public API only.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * The program reads one command per line on stdin and answers with records
 * on stdout, each record one line of TAB-separated escaped fields, ending
 * every command with exactly one `ok` or `err` record. Everything libotr
 * asks the application to do (inject a message, report an event) becomes a
 * record printed at the moment libotr asks, so records appear in the order
 * libotr produced them.
 *
 * Besides the protocol's commands, it implements a few Offrecord test
 * extensions for libotr's fingerprint and instance-tag files (see "Offrecord
 * test extensions" below); they are not part of the peer protocol.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gcrypt.h>

/* Order matters: message.h uses types that proto.h declares. */
#include <libotr/proto.h>
#include <libotr/context.h>
#include <libotr/instag.h>
#include <libotr/message.h>
#include <libotr/privkey.h>
#include <libotr/tlv.h>
#include <libotr/userstate.h>

/* ------------------------------------------------------------------ */
/* Endpoint state                                                      */
/* ------------------------------------------------------------------ */

static OtrlUserState us;
static int initialised;
static char *our_account;
static char *our_protocol;
/* Where newly generated keys are written; NULL means "keep in memory"
 * (libotr only writes to files, so we hand it an anonymous tmpfile). */
static char *our_keyfile;
static OtrlPolicy our_policy = OTRL_POLICY_MANUAL;
static int our_fragsize;
/* Last interval libotr asked for through timer_control (seconds, 0 = off). */
static unsigned int timer_interval;
/* Number of messages libotr injected so far; lets `send` tell whether
 * libotr already transmitted the message itself. */
static unsigned long inject_count;

static const OtrlMessageAppOps ops;

/* ------------------------------------------------------------------ */
/* Output: records of escaped fields                                   */
/* ------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence starting at s (at most n bytes
 * available), or 0 if the bytes there are not well-formed UTF-8. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned int cp;

    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) { len = 2; cp = s[0] & 0x1f; }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) { len = 3; cp = s[0] & 0x0f; }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) { len = 4; cp = s[0] & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
    return len;
}

/* Write one field, escaped so that it contains no TAB, LF or CR. Control
 * bytes and bytes that are not well-formed UTF-8 become \xHH. */
static void put_escaped(const char *field, size_t n)
{
    const unsigned char *s = (const unsigned char *)field;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        if (c == '\\') { fputs("\\\\", stdout); i++; }
        else if (c == '\t') { fputs("\\t", stdout); i++; }
        else if (c == '\n') { fputs("\\n", stdout); i++; }
        else if (c == '\r') { fputs("\\r", stdout); i++; }
        else if (c < 0x20 || c == 0x7f) { printf("\\x%02x", c); i++; }
        else if (c < 0x80) { putchar(c); i++; }
        else {
            size_t len = utf8_seq_len(s + i, n - i);
            if (len == 0) { printf("\\x%02x", c); i++; }
            else { fwrite(s + i, 1, len, stdout); i += len; }
        }
    }
}

static void rec_begin(const char *kind)
{
    put_escaped(kind, strlen(kind));
}

static void rec_str(const char *field)
{
    putchar('\t');
    if (field) put_escaped(field, strlen(field));
}

static void rec_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec_fmt(const char *fmt, ...)
{
    char *buf = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&buf, fmt, ap);
    va_end(ap);
    putchar('\t');
    if (n >= 0 && buf) put_escaped(buf, (size_t)n);
    free(buf);
}

static void rec_hex(const unsigned char *data, size_t len)
{
    size_t i;
    putchar('\t');
    for (i = 0; i < len; i++) printf("%02x", data[i]);
}

static void rec_end(void)
{
    putchar('\n');
    fflush(stdout);
}

static void say_ok(const char *cmd)
{
    rec_begin("ok");
    rec_str(cmd);
    rec_end();
}

static void say_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_err(const char *cmd, const char *fmt, ...)
{
    char *buf = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&buf, fmt, ap);
    va_end(ap);
    rec_begin("err");
    rec_str(cmd);
    putchar('\t');
    if (n >= 0 && buf) put_escaped(buf, (size_t)n);
    rec_end();
    free(buf);
}

/* An empty message is nothing to transmit: libotr "sends" "" to mean "send
 * nothing" (for instance when asked to send in the FINISHED state), and an
 * empty plaintext is no message either. */
static void emit_wire(const char *peer, const char *message)
{
    if (!message || !message[0]) return;
    rec_begin("wire");
    rec_str(peer);
    rec_str(message);
    rec_end();
}

/* ------------------------------------------------------------------ */
/* Keys and instance tags                                              */
/* ------------------------------------------------------------------ */

/* Generate a DSA key for account/protocol: into our_keyfile if we have
 * one (libotr rewrites the file with every key it holds), else into an
 * anonymous temporary file, which only serves libotr's API. */
static gcry_error_t generate_key(const char *account, const char *protocol)
{
    gcry_error_t err;
    FILE *f;

    if (our_keyfile) return otrl_privkey_generate(us, our_keyfile, account, protocol);
    f = tmpfile();
    if (!f) return gcry_error_from_errno(errno);
    err = otrl_privkey_generate_FILEp(us, f, account, protocol);
    fclose(f);
    return err;
}

/* Give account/protocol the instance tag `tag` by reading it from a file in
 * libotr's instance tag format (account TAB protocol TAB hex-tag). */
static gcry_error_t set_instag(const char *account, const char *protocol, otrl_instag_t tag)
{
    gcry_error_t err;
    FILE *f = tmpfile();

    if (!f) return gcry_error_from_errno(errno);
    fprintf(f, "%s\t%s\t%08x\n", account, protocol, tag);
    rewind(f);
    err = otrl_instag_read_FILEp(us, f);
    fclose(f);
    return err;
}

static gcry_error_t generate_instag(const char *account, const char *protocol)
{
    gcry_error_t err;
    FILE *f = tmpfile();

    if (!f) return gcry_error_from_errno(errno);
    err = otrl_instag_generate_FILEp(us, f, account, protocol);
    fclose(f);
    return err;
}

static otrl_instag_t our_instag(void)
{
    OtrlInsTag *t = otrl_instag_find(us, our_account, our_protocol);
    return t ? t->instag : 0;
}

/* ------------------------------------------------------------------ */
/* libotr callbacks                                                    */
/* ------------------------------------------------------------------ */

static OtrlPolicy cb_policy(void *opdata, ConnContext *context)
{
    (void)opdata; (void)context;
    return our_policy;
}

static void cb_create_privkey(void *opdata, const char *accountname, const char *protocol)
{
    gcry_error_t err;
    (void)opdata;
    err = generate_key(accountname, protocol);
    if (err) fprintf(stderr, "libotr-peer: key generation failed: %s\n", gcry_strerror(err));
}

static int cb_is_logged_in(void *opdata, const char *accountname, const char *protocol,
                           const char *recipient)
{
    (void)opdata; (void)accountname; (void)protocol; (void)recipient;
    return 1;
}

static void cb_inject_message(void *opdata, const char *accountname, const char *protocol,
                              const char *recipient, const char *message)
{
    (void)opdata; (void)accountname; (void)protocol;
    inject_count++;
    emit_wire(recipient, message);
}

static void cb_update_context_list(void *opdata)
{
    (void)opdata;
}

static void cb_new_fingerprint(void *opdata, OtrlUserState u, const char *accountname,
                               const char *protocol, const char *username,
                               unsigned char fingerprint[20])
{
    (void)opdata; (void)u; (void)accountname; (void)protocol;
    rec_begin("event");
    rec_str("new_fingerprint");
    rec_str(username);
    rec_hex(fingerprint, 20);
    rec_end();
}

static void cb_write_fingerprints(void *opdata)
{
    (void)opdata;
}

static void cb_gone_secure(void *opdata, ConnContext *context)
{
    (void)opdata;
    rec_begin("event");
    rec_str("gone_secure");
    rec_str(context->username);
    rec_fmt("%08x", context->their_instance);
    rec_end();
}

static void cb_gone_insecure(void *opdata, ConnContext *context)
{
    (void)opdata;
    rec_begin("event");
    rec_str("gone_insecure");
    rec_str(context->username);
    rec_fmt("%08x", context->their_instance);
    rec_end();
}

static void cb_still_secure(void *opdata, ConnContext *context, int is_reply)
{
    (void)opdata;
    rec_begin("event");
    rec_str("still_secure");
    rec_str(context->username);
    rec_fmt("%08x", context->their_instance);
    rec_fmt("%d", is_reply ? 1 : 0);
    rec_end();
}

static int cb_max_message_size(void *opdata, ConnContext *context)
{
    (void)opdata; (void)context;
    return our_fragsize;
}

static const char *cb_account_name(void *opdata, const char *account, const char *protocol)
{
    (void)opdata; (void)protocol;
    return strdup(account);
}

static void cb_account_name_free(void *opdata, const char *account_name)
{
    (void)opdata;
    free((char *)account_name);
}

static void cb_received_symkey(void *opdata, ConnContext *context, unsigned int use,
                               const unsigned char *usedata, size_t usedatalen,
                               const unsigned char *symkey)
{
    (void)opdata;
    rec_begin("event");
    rec_str("symkey");
    rec_str(context->username);
    rec_fmt("%u", use);
    rec_hex(usedata, usedata ? usedatalen : 0);
    rec_hex(symkey, OTRL_EXTRAKEY_BYTES);
    rec_end();
}

/* The text after "?OTR Error: " in the error messages libotr sends. */
static const char *cb_otr_error_message(void *opdata, ConnContext *context,
                                        OtrlErrorCode err_code)
{
    const char *text;
    (void)opdata; (void)context;
    switch (err_code) {
    case OTRL_ERRCODE_ENCRYPTION_ERROR:
        text = "An error occurred while encrypting a message.";
        break;
    case OTRL_ERRCODE_MSG_NOT_IN_PRIVATE:
        text = "I received an encrypted message but we have no private conversation.";
        break;
    case OTRL_ERRCODE_MSG_UNREADABLE:
        text = "I received an encrypted message that I cannot read.";
        break;
    case OTRL_ERRCODE_MSG_MALFORMED:
        text = "I received a malformed message.";
        break;
    default:
        text = "An OTR error occurred.";
        break;
    }
    return strdup(text);
}

static void cb_otr_error_message_free(void *opdata, const char *err_msg)
{
    (void)opdata;
    free((char *)err_msg);
}

static const char *smp_event_name(OtrlSMPEvent ev)
{
    switch (ev) {
    case OTRL_SMPEVENT_NONE: return "NONE";
    case OTRL_SMPEVENT_ERROR: return "ERROR";
    case OTRL_SMPEVENT_ABORT: return "ABORT";
    case OTRL_SMPEVENT_CHEATED: return "CHEATED";
    case OTRL_SMPEVENT_ASK_FOR_ANSWER: return "ASK_FOR_ANSWER";
    case OTRL_SMPEVENT_ASK_FOR_SECRET: return "ASK_FOR_SECRET";
    case OTRL_SMPEVENT_IN_PROGRESS: return "IN_PROGRESS";
    case OTRL_SMPEVENT_SUCCESS: return "SUCCESS";
    case OTRL_SMPEVENT_FAILURE: return "FAILURE";
    }
    return "UNKNOWN";
}

static void cb_handle_smp_event(void *opdata, OtrlSMPEvent smp_event, ConnContext *context,
                                unsigned short progress_percent, char *question)
{
    rec_begin("event");
    rec_str("smp");
    rec_str(context->username);
    rec_str(smp_event_name(smp_event));
    rec_fmt("%u", (unsigned int)progress_percent);
    if (question) rec_str(question);
    rec_end();
    /* As libotr's documentation asks of applications: after a cheating or
     * error event, abort the exchange (this sends an SMP abort TLV). */
    if (smp_event == OTRL_SMPEVENT_CHEATED || smp_event == OTRL_SMPEVENT_ERROR)
        otrl_message_abort_smp(us, &ops, opdata, context);
}

static const char *msg_event_name(OtrlMessageEvent ev)
{
    switch (ev) {
    case OTRL_MSGEVENT_NONE: return "NONE";
    case OTRL_MSGEVENT_ENCRYPTION_REQUIRED: return "ENCRYPTION_REQUIRED";
    case OTRL_MSGEVENT_ENCRYPTION_ERROR: return "ENCRYPTION_ERROR";
    case OTRL_MSGEVENT_CONNECTION_ENDED: return "CONNECTION_ENDED";
    case OTRL_MSGEVENT_SETUP_ERROR: return "SETUP_ERROR";
    case OTRL_MSGEVENT_MSG_REFLECTED: return "MSG_REFLECTED";
    case OTRL_MSGEVENT_MSG_RESENT: return "MSG_RESENT";
    case OTRL_MSGEVENT_RCVDMSG_NOT_IN_PRIVATE: return "RCVDMSG_NOT_IN_PRIVATE";
    case OTRL_MSGEVENT_RCVDMSG_UNREADABLE: return "RCVDMSG_UNREADABLE";
    case OTRL_MSGEVENT_RCVDMSG_MALFORMED: return "RCVDMSG_MALFORMED";
    case OTRL_MSGEVENT_LOG_HEARTBEAT_RCVD: return "LOG_HEARTBEAT_RCVD";
    case OTRL_MSGEVENT_LOG_HEARTBEAT_SENT: return "LOG_HEARTBEAT_SENT";
    case OTRL_MSGEVENT_RCVDMSG_GENERAL_ERR: return "RCVDMSG_GENERAL_ERR";
    case OTRL_MSGEVENT_RCVDMSG_UNENCRYPTED: return "RCVDMSG_UNENCRYPTED";
    case OTRL_MSGEVENT_RCVDMSG_UNRECOGNIZED: return "RCVDMSG_UNRECOGNIZED";
    case OTRL_MSGEVENT_RCVDMSG_FOR_OTHER_INSTANCE: return "RCVDMSG_FOR_OTHER_INSTANCE";
    }
    return "UNKNOWN";
}

static void cb_handle_msg_event(void *opdata, OtrlMessageEvent msg_event, ConnContext *context,
                                const char *message, gcry_error_t err)
{
    (void)opdata;
    rec_begin("event");
    rec_str("msg");
    rec_str(context ? context->username : "");
    rec_str(msg_event_name(msg_event));
    rec_str(message ? message : "");
    rec_fmt("%u", (unsigned int)err);
    rec_end();
}

static void cb_create_instag(void *opdata, const char *accountname, const char *protocol)
{
    gcry_error_t err;
    (void)opdata;
    err = generate_instag(accountname, protocol);
    if (err) fprintf(stderr, "libotr-peer: instance tag generation failed: %s\n",
                     gcry_strerror(err));
}

static void cb_timer_control(void *opdata, unsigned int interval)
{
    (void)opdata;
    timer_interval = interval;
}

static const OtrlMessageAppOps ops = {
    .policy = cb_policy,
    .create_privkey = cb_create_privkey,
    .is_logged_in = cb_is_logged_in,
    .inject_message = cb_inject_message,
    .update_context_list = cb_update_context_list,
    .new_fingerprint = cb_new_fingerprint,
    .write_fingerprints = cb_write_fingerprints,
    .gone_secure = cb_gone_secure,
    .gone_insecure = cb_gone_insecure,
    .still_secure = cb_still_secure,
    .max_message_size = cb_max_message_size,
    .account_name = cb_account_name,
    .account_name_free = cb_account_name_free,
    .received_symkey = cb_received_symkey,
    .otr_error_message = cb_otr_error_message,
    .otr_error_message_free = cb_otr_error_message_free,
    .resent_msg_prefix = NULL,      /* libotr's default "[resent]" */
    .resent_msg_prefix_free = NULL,
    .handle_smp_event = cb_handle_smp_event,
    .handle_msg_event = cb_handle_msg_event,
    .create_instag = cb_create_instag,
    .convert_msg = NULL,
    .convert_free = NULL,
    .timer_control = cb_timer_control,
};

/* ------------------------------------------------------------------ */
/* Helpers for commands                                                */
/* ------------------------------------------------------------------ */

/* The conversation with peer that libotr would pick for sending: the most
 * secure instance, then the most recent. NULL if we never talked to peer. */
static ConnContext *best_context(const char *peer)
{
    return otrl_context_find(us, peer, our_account, our_protocol, OTRL_INSTAG_BEST, 0, NULL,
                             NULL, NULL);
}

static ConnContext *encrypted_context(const char *cmd, const char *peer)
{
    ConnContext *ctx = best_context(peer);
    if (!ctx || ctx->msgstate != OTRL_MSGSTATE_ENCRYPTED) {
        say_err(cmd, "no encrypted session with %s", peer);
        return NULL;
    }
    return ctx;
}

static const char *msgstate_name(OtrlMessageState st)
{
    switch (st) {
    case OTRL_MSGSTATE_PLAINTEXT: return "plaintext";
    case OTRL_MSGSTATE_ENCRYPTED: return "encrypted";
    case OTRL_MSGSTATE_FINISHED: return "finished";
    }
    return "unknown";
}

static void hex_string(char *out, const unsigned char *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) sprintf(out + 2 * i, "%02x", data[i]);
    out[2 * len] = '\0';
}

static const char *trust_word(const Fingerprint *fp)
{
    return (fp && fp->trust && fp->trust[0]) ? fp->trust : "-";
}

/* Parse an unsigned number (decimal, or hex with 0x) in [0, max]. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ') return 0;
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno || *end || v > max) return 0;
    *out = v;
    return 1;
}

static int parse_policy(const char *s, OtrlPolicy *out)
{
    unsigned long n;
    OtrlPolicy p = 0;
    char *copy, *tok, *save = NULL;
    int ok = 1;

    if (parse_uint(s, 0xffffffffUL, &n)) { *out = (OtrlPolicy)n; return 1; }
    if (!strcmp(s, "never")) { *out = OTRL_POLICY_NEVER; return 1; }
    if (!strcmp(s, "manual")) { *out = OTRL_POLICY_MANUAL; return 1; }
    if (!strcmp(s, "opportunistic")) { *out = OTRL_POLICY_OPPORTUNISTIC; return 1; }
    if (!strcmp(s, "always")) { *out = OTRL_POLICY_ALWAYS; return 1; }
    copy = strdup(s);
    if (!copy) return 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "v2")) p |= OTRL_POLICY_ALLOW_V2;
        else if (!strcmp(tok, "v3")) p |= OTRL_POLICY_ALLOW_V3;
        else if (!strcmp(tok, "require")) p |= OTRL_POLICY_REQUIRE_ENCRYPTION;
        else if (!strcmp(tok, "whitespace")) p |= OTRL_POLICY_SEND_WHITESPACE_TAG;
        else if (!strcmp(tok, "wsstart")) p |= OTRL_POLICY_WHITESPACE_START_AKE;
        else if (!strcmp(tok, "errstart")) p |= OTRL_POLICY_ERROR_START_AKE;
        else { ok = 0; break; }
    }
    free(copy);
    if (ok) *out = p;
    return ok;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

struct args {
    int argc;
    char **argv;    /* unescaped, NUL-terminated */
    size_t *lens;   /* lengths (fields may not contain NUL; see parse) */
};

static void cmd_init(const struct args *a)
{
    const char *account = a->argv[1], *protocol = a->argv[2], *key = a->argv[3];
    char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
    unsigned long tag = 0;
    gcry_error_t err;

    if (initialised) { say_err("init", "already initialised"); return; }
    if (!account[0] || !protocol[0] || !key[0]) {
        say_err("init", "account, protocol and keyfile must not be empty");
        return;
    }
    if (a->argc == 5) {
        /* Hex, as the doc says (strtoul also takes a 0x prefix). */
        const char *t = a->argv[4];
        char *end;
        errno = 0;
        tag = strtoul(t, &end, 16);
        if (!t[0] || t[0] == '-' || t[0] == '+' || t[0] == ' ' || errno || *end ||
            tag > 0xffffffffUL || tag < OTRL_MIN_VALID_INSTAG) {
            say_err("init", "instance tag must be hex, from 100 to ffffffff");
            return;
        }
    }

    our_account = strdup(account);
    our_protocol = strdup(protocol);
    our_keyfile = strcmp(key, "generate") ? strdup(key) : NULL;
    if (!our_account || !our_protocol) { say_err("init", "out of memory"); goto fail; }

    if (our_keyfile) {
        struct stat st;
        if (stat(our_keyfile, &st) == 0) {
            err = otrl_privkey_read(us, our_keyfile);
            if (err) {
                say_err("init", "cannot read key file %s: %s", our_keyfile, gcry_strerror(err));
                goto fail;
            }
        }
    }
    if (!otrl_privkey_find(us, our_account, our_protocol)) {
        err = generate_key(our_account, our_protocol);
        if (err) { say_err("init", "key generation failed: %s", gcry_strerror(err)); goto fail; }
    }
    /* Without a tag argument, keep a tag already read with read-instags. */
    err = tag ? set_instag(our_account, our_protocol, (otrl_instag_t)tag)
        : our_instag() ? 0
        : generate_instag(our_account, our_protocol);
    if (err || !our_instag()) {
        say_err("init", "cannot set the instance tag: %s", gcry_strerror(err));
        goto fail;
    }
    if (!otrl_privkey_fingerprint(us, human, our_account, our_protocol)) {
        say_err("init", "no private key for %s/%s", our_account, our_protocol);
        goto fail;
    }
    initialised = 1;
    rec_begin("ok");
    rec_str("init");
    rec_fmt("fingerprint=%s", human);
    rec_fmt("instag=%08x", our_instag());
    rec_end();
    return;

fail:
    otrl_privkey_forget_all(us);
    otrl_instag_forget_all(us);
    free(our_account); our_account = NULL;
    free(our_protocol); our_protocol = NULL;
    free(our_keyfile); our_keyfile = NULL;
}

static void cmd_policy(const struct args *a)
{
    OtrlPolicy p;
    if (!parse_policy(a->argv[1], &p)) {
        say_err("policy", "unknown policy '%s': give a number, never/manual/opportunistic/always, "
                "or a comma list of v2,v3,require,whitespace,wsstart,errstart", a->argv[1]);
        return;
    }
    our_policy = p;
    say_ok("policy");
}

static void cmd_fragsize(const struct args *a)
{
    unsigned long n;
    if (!parse_uint(a->argv[1], INT_MAX, &n)) {
        say_err("fragsize", "fragment size must be a number from 0 to %d", INT_MAX);
        return;
    }
    our_fragsize = (int)n;
    say_ok("fragsize");
}

static void cmd_query(const struct args *a)
{
    char *q = otrl_proto_default_query_msg(our_account, our_policy);
    if (!q) { say_err("query", "libotr made no query message"); return; }
    inject_count++;
    emit_wire(a->argv[1], q);
    free(q);
    say_ok("query");
}

static void cmd_send(const struct args *a)
{
    const char *peer = a->argv[1], *text = a->argv[2];
    unsigned long before = inject_count;
    char *newmsg = NULL;
    gcry_error_t err;

    err = otrl_message_sending(us, &ops, NULL, our_account, our_protocol, peer,
                               OTRL_INSTAG_BEST, text, NULL, &newmsg, OTRL_FRAGMENT_SEND_ALL,
                               NULL, NULL, NULL);
    if (err) {
        otrl_message_free(newmsg);
        say_err("send", "libotr refused to send: %s", gcry_strerror(err));
        return;
    }
    /* With OTRL_FRAGMENT_SEND_ALL libotr injects what it sends itself.
     * If it injected nothing, the message to transmit is the returned one,
     * or, when there is none, the original text unchanged. */
    if (inject_count == before) emit_wire(peer, newmsg ? newmsg : text);
    otrl_message_free(newmsg);
    say_ok("send");
}

static void cmd_recv(const struct args *a)
{
    const char *peer = a->argv[1], *message = a->argv[2];
    OtrlMessageType type = otrl_proto_message_type(message);
    char *newmsg = NULL;
    OtrlTLV *tlvs = NULL, *t;
    int internal;

    internal = otrl_message_receiving(us, &ops, NULL, our_account, our_protocol, peer, message,
                                      &newmsg, &tlvs, NULL, NULL, NULL);
    if (!internal) {
        if (newmsg) {
            /* An empty decrypted data message is a heartbeat: nothing to show. */
            if (newmsg[0] || type != OTRL_MSGTYPE_DATA) {
                rec_begin("deliver");
                rec_str(peer);
                rec_str(newmsg);
                rec_str("otr");
                rec_end();
            }
        } else {
            rec_begin("deliver");
            rec_str(peer);
            rec_str(message);
            rec_str("plain");
            rec_end();
        }
    }
    for (t = tlvs; t; t = t->next) {
        if (t->type == OTRL_TLV_PADDING) continue;
        rec_begin("tlv");
        rec_str(peer);
        rec_fmt("%u", (unsigned int)t->type);
        rec_hex(t->data, t->data ? t->len : 0);
        rec_end();
    }
    otrl_tlv_free(tlvs);
    otrl_message_free(newmsg);
    say_ok("recv");
}

static void cmd_smp(const struct args *a)
{
    ConnContext *ctx = encrypted_context("smp", a->argv[1]);
    if (!ctx) return;
    if (a->argc == 4)
        otrl_message_initiate_smp_q(us, &ops, NULL, ctx, a->argv[3],
                                    (const unsigned char *)a->argv[2], a->lens[2]);
    else
        otrl_message_initiate_smp(us, &ops, NULL, ctx, (const unsigned char *)a->argv[2],
                                  a->lens[2]);
    say_ok("smp");
}

static void cmd_smp_respond(const struct args *a)
{
    ConnContext *ctx = encrypted_context("smp-respond", a->argv[1]);
    if (!ctx) return;
    otrl_message_respond_smp(us, &ops, NULL, ctx, (const unsigned char *)a->argv[2], a->lens[2]);
    say_ok("smp-respond");
}

static void cmd_smp_abort(const struct args *a)
{
    ConnContext *ctx = encrypted_context("smp-abort", a->argv[1]);
    if (!ctx) return;
    otrl_message_abort_smp(us, &ops, NULL, ctx);
    say_ok("smp-abort");
}

static void cmd_symkey(const struct args *a)
{
    unsigned char key[OTRL_EXTRAKEY_BYTES];
    char hex[2 * OTRL_EXTRAKEY_BYTES + 1];
    const char *usedata = a->argc == 4 ? a->argv[3] : "";
    size_t usedatalen = a->argc == 4 ? a->lens[3] : 0;
    unsigned long use;
    ConnContext *ctx;
    gcry_error_t err;

    if (!parse_uint(a->argv[2], 0xffffffffUL, &use)) {
        say_err("symkey", "use must be a number from 0 to 4294967295");
        return;
    }
    ctx = encrypted_context("symkey", a->argv[1]);
    if (!ctx) return;
    err = otrl_message_symkey(us, &ops, NULL, ctx, (unsigned int)use,
                              (const unsigned char *)usedata, usedatalen, key);
    if (err) { say_err("symkey", "libotr refused: %s", gcry_strerror(err)); return; }
    hex_string(hex, key, sizeof key);
    rec_begin("ok");
    rec_str("symkey");
    rec_fmt("key=%s", hex);
    rec_end();
}

static void cmd_disconnect(const struct args *a)
{
    otrl_message_disconnect_all_instances(us, &ops, NULL, our_account, our_protocol, a->argv[1]);
    say_ok("disconnect");
}

static void cmd_fingerprint(const struct args *a)
{
    char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
    unsigned char raw[20];
    char hex[41];
    (void)a;

    if (!otrl_privkey_fingerprint(us, human, our_account, our_protocol) ||
        !otrl_privkey_fingerprint_raw(us, raw, our_account, our_protocol)) {
        say_err("fingerprint", "no private key");
        return;
    }
    hex_string(hex, raw, 20);
    rec_begin("ok");
    rec_str("fingerprint");
    rec_fmt("human=%s", human);
    rec_fmt("hex=%s", hex);
    rec_end();
}

static Fingerprint *active_fingerprint(const char *cmd, const char *peer)
{
    ConnContext *ctx = best_context(peer);
    if (!ctx || !ctx->active_fingerprint || !ctx->active_fingerprint->fingerprint) {
        say_err(cmd, "no active fingerprint for %s", peer);
        return NULL;
    }
    return ctx->active_fingerprint;
}

static void cmd_peer_fingerprint(const struct args *a)
{
    Fingerprint *fp = active_fingerprint("peer-fingerprint", a->argv[1]);
    char hex[41];

    if (!fp) return;
    hex_string(hex, fp->fingerprint, 20);
    rec_begin("ok");
    rec_str("peer-fingerprint");
    rec_fmt("hex=%s", hex);
    rec_fmt("trust=%s", trust_word(fp));
    rec_end();
}

static void cmd_trust(const struct args *a)
{
    Fingerprint *fp = active_fingerprint("trust", a->argv[1]);
    if (!fp) return;
    otrl_context_set_trust(fp, a->argc == 3 ? a->argv[2] : "verified");
    say_ok("trust");
}

static void cmd_instag(const struct args *a)
{
    (void)a;
    rec_begin("ok");
    rec_str("instag");
    rec_fmt("instag=%08x", our_instag());
    rec_end();
}

static void cmd_status(const struct args *a)
{
    ConnContext *ctx = best_context(a->argv[1]);
    char fphex[41] = "-";
    char ssid[2 * sizeof ctx->sessionid + 1] = "-";
    const char *trust = "-";

    if (!ctx) {
        rec_begin("ok");
        rec_str("status");
        rec_str("msgstate=none");
        rec_str("version=0");
        rec_str("their_instag=00000000");
        rec_fmt("our_instag=%08x", our_instag());
        rec_str("fingerprint=-");
        rec_str("trust=-");
        rec_str("smp_expect=0");
        rec_str("ssid=-");
        rec_end();
        return;
    }
    if (ctx->active_fingerprint && ctx->active_fingerprint->fingerprint) {
        hex_string(fphex, ctx->active_fingerprint->fingerprint, 20);
        trust = trust_word(ctx->active_fingerprint);
    }
    if (ctx->sessionid_len > 0 && ctx->sessionid_len <= sizeof ctx->sessionid)
        hex_string(ssid, ctx->sessionid, ctx->sessionid_len);
    rec_begin("ok");
    rec_str("status");
    rec_fmt("msgstate=%s", msgstate_name(ctx->msgstate));
    rec_fmt("version=%u", ctx->protocol_version);
    rec_fmt("their_instag=%08x", ctx->their_instance);
    rec_fmt("our_instag=%08x", ctx->our_instance ? ctx->our_instance : our_instag());
    rec_fmt("fingerprint=%s", fphex);
    rec_fmt("trust=%s", trust);
    rec_fmt("smp_expect=%d", ctx->smstate ? (int)ctx->smstate->nextExpected : 0);
    rec_fmt("ssid=%s", ssid);
    rec_end();
}

static void cmd_poll(const struct args *a)
{
    (void)a;
    otrl_message_poll(us, &ops, NULL);
    say_ok("poll");
}

static void cmd_seed(const struct args *a)
{
    (void)a;
    say_err("seed", "libotr takes its randomness from libgcrypt and cannot be seeded");
}

/* ------------------------------------------------------------------ */
/* Offrecord test extensions: libotr's fingerprint and instance-tag    */
/* files                                                               */
/* ------------------------------------------------------------------ */

/*
 * Not part of the peer protocol (shared/otr-peer-protocol.md): commands
 * Offrecord's tests use to check that libotr reads the otr.fingerprints and
 * instance-tag files Offrecord writes, and that Offrecord reads the ones
 * libotr writes. They work before `init` too.
 *
 *   write-fingerprints <file>  otrl_privkey_write_fingerprints: every known
 *                              fingerprint (seen in an AKE, read, trusted)
 *   read-fingerprints <file>   otrl_privkey_read_fingerprints (adds to them)
 *   fingerprints               one record per known fingerprint, then ok:
 *                              known-fingerprint <username> <accountname>
 *                                  <protocol> <40 hex> <trust, empty if none>
 *   write-instags <file>       otrl_instag_write: every instance tag
 *   read-instags <file>        otrl_instag_read; a tag read for the account
 *                              that a later `init` without an instag names
 *                              is kept
 *   instags                    one record per instance tag, then ok:
 *                              known-instag <accountname> <protocol> <hex8>
 */

static void cmd_write_fingerprints(const struct args *a)
{
    gcry_error_t err = otrl_privkey_write_fingerprints(us, a->argv[1]);
    if (err) {
        say_err(a->argv[0], "libotr could not write %s: %s", a->argv[1], gcry_strerror(err));
        return;
    }
    say_ok(a->argv[0]);
}

static void cmd_read_fingerprints(const struct args *a)
{
    gcry_error_t err = otrl_privkey_read_fingerprints(us, a->argv[1], NULL, NULL);
    if (err) {
        say_err(a->argv[0], "libotr could not read %s: %s", a->argv[1], gcry_strerror(err));
        return;
    }
    say_ok(a->argv[0]);
}

static void cmd_fingerprints(const struct args *a)
{
    ConnContext *ctx;
    Fingerprint *fp;
    char hex[41];

    for (ctx = us->context_root; ctx; ctx = ctx->next) {
        /* Fingerprints belong to master contexts; children share them. */
        if (ctx->m_context != ctx) continue;
        for (fp = ctx->fingerprint_root.next; fp; fp = fp->next) {
            if (!fp->fingerprint) continue;
            hex_string(hex, fp->fingerprint, 20);
            rec_begin("known-fingerprint");
            rec_str(ctx->username);
            rec_str(ctx->accountname);
            rec_str(ctx->protocol);
            rec_str(hex);
            rec_str(fp->trust ? fp->trust : "");
            rec_end();
        }
    }
    say_ok(a->argv[0]);
}

static void cmd_write_instags(const struct args *a)
{
    gcry_error_t err = otrl_instag_write(us, a->argv[1]);
    if (err) {
        say_err(a->argv[0], "libotr could not write %s: %s", a->argv[1], gcry_strerror(err));
        return;
    }
    say_ok(a->argv[0]);
}

static void cmd_read_instags(const struct args *a)
{
    gcry_error_t err = otrl_instag_read(us, a->argv[1]);
    if (err) {
        say_err(a->argv[0], "libotr could not read %s: %s", a->argv[1], gcry_strerror(err));
        return;
    }
    say_ok(a->argv[0]);
}

static void cmd_instags(const struct args *a)
{
    OtrlInsTag *t;

    for (t = us->instag_root; t; t = t->next) {
        rec_begin("known-instag");
        rec_str(t->accountname);
        rec_str(t->protocol);
        rec_fmt("%08x", t->instag);
        rec_end();
    }
    say_ok(a->argv[0]);
}

static void cmd_offrecord_only(const struct args *a)
{
    say_err(a->argv[0], "not supported by the libotr peer (an Offrecord otr-peer command)");
}

static void cmd_echo(const struct args *a)
{
    int i;
    rec_begin("ok");
    rec_str("echo");
    for (i = 1; i < a->argc; i++) rec_str(a->argv[i]);
    rec_end();
}

static void cleanup(void)
{
    if (us) otrl_userstate_free(us);
    us = NULL;
    free(our_account);
    free(our_protocol);
    free(our_keyfile);
}

static void cmd_quit(const struct args *a)
{
    (void)a;
    say_ok("quit");
    cleanup();
    exit(0);
}

struct command {
    const char *name;
    int min_fields;     /* including the command name */
    int max_fields;     /* when splitting on spaces, the last one takes the rest */
    int needs_init;
    const char *usage;
    void (*run)(const struct args *a);
};

static const struct command commands[] = {
    { "init", 4, 5, 0, "init <account> <protocol> <keyfile|generate> [instag-hex]", cmd_init },
    { "policy", 2, 2, 0, "policy <flags>", cmd_policy },
    { "fragsize", 2, 2, 0, "fragsize <n>", cmd_fragsize },
    { "query", 2, 2, 1, "query <peer>", cmd_query },
    { "send", 3, 3, 1, "send <peer> <text>", cmd_send },
    { "recv", 3, 3, 1, "recv <peer> <message>", cmd_recv },
    { "smp", 3, 4, 1, "smp <peer> <secret> [question]", cmd_smp },
    { "smp-respond", 3, 3, 1, "smp-respond <peer> <secret>", cmd_smp_respond },
    { "smp-abort", 2, 2, 1, "smp-abort <peer>", cmd_smp_abort },
    { "symkey", 3, 4, 1, "symkey <peer> <use> [usedata]", cmd_symkey },
    { "disconnect", 2, 2, 1, "disconnect <peer>", cmd_disconnect },
    { "fingerprint", 1, 1, 1, "fingerprint", cmd_fingerprint },
    { "peer-fingerprint", 2, 2, 1, "peer-fingerprint <peer>", cmd_peer_fingerprint },
    { "trust", 2, 3, 1, "trust <peer> [word]", cmd_trust },
    { "instag", 1, 1, 1, "instag", cmd_instag },
    { "status", 2, 2, 1, "status <peer>", cmd_status },
    { "poll", 1, 1, 1, "poll", cmd_poll },
    { "seed", 1, 2, 0, "seed <n>|off", cmd_seed },
    { "echo", 1, 2, 0, "echo <text>", cmd_echo },
    { "quit", 1, 1, 0, "quit", cmd_quit },
    { "save", 1, 2, 0, "save <file>", cmd_offrecord_only },
    { "load", 1, 2, 0, "load <file>", cmd_offrecord_only },
    { "sleep", 1, 2, 0, "sleep <seconds>", cmd_offrecord_only },
    /* Offrecord test extensions (see above). */
    { "write-fingerprints", 2, 2, 0, "write-fingerprints <file>", cmd_write_fingerprints },
    { "read-fingerprints", 2, 2, 0, "read-fingerprints <file>", cmd_read_fingerprints },
    { "fingerprints", 1, 1, 0, "fingerprints", cmd_fingerprints },
    { "write-instags", 2, 2, 0, "write-instags <file>", cmd_write_instags },
    { "read-instags", 2, 2, 0, "read-instags <file>", cmd_read_instags },
    { "instags", 1, 1, 0, "instags", cmd_instags },
};

static const struct command *find_command(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Input parsing                                                       */
/* ------------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Unescape src[0..n) into a new NUL-terminated buffer. Returns NULL and
 * sets *why on a malformed escape or an embedded NUL byte (which libotr's
 * C-string API could not carry). */
static char *unescape(const char *src, size_t n, size_t *outlen, const char **why)
{
    char *out = malloc(n + 1);
    size_t i = 0, o = 0;

    if (!out) { *why = "out of memory"; return NULL; }
    while (i < n) {
        char c = src[i++];
        if (c != '\\') { out[o++] = c; continue; }
        if (i >= n) { *why = "a field ends in a lone backslash"; free(out); return NULL; }
        c = src[i++];
        switch (c) {
        case '\\': out[o++] = '\\'; break;
        case 't': out[o++] = '\t'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 'x': {
            int hi = i < n ? hexval((unsigned char)src[i]) : -1;
            int lo = i + 1 < n ? hexval((unsigned char)src[i + 1]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "\\x must be followed by two hex digits";
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            *why = "unknown escape (only \\\\ \\t \\n \\r \\xHH exist)";
            free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    if (memchr(out, '\0', o)) { *why = "a field contains a NUL byte"; free(out); return NULL; }
    *outlen = o;
    return out;
}

/* Split line into raw (still escaped) fields: on TAB if it contains one,
 * else on single spaces with the command's last field taking the rest. */
static int split_line(char *line, size_t len, char ***fields_out, size_t **lens_out)
{
    int tabbed = memchr(line, '\t', len) != NULL;
    char sep = tabbed ? '\t' : ' ';
    int cap = 8, count = 0, max = INT_MAX;
    char **fields = malloc(sizeof *fields * (size_t)cap);
    size_t *lens = malloc(sizeof *lens * (size_t)cap);
    size_t start = 0, i;

    if (!fields || !lens) { free(fields); free(lens); return -1; }
    if (!tabbed) {
        /* Look up the command to know how many fields it takes. */
        const char *sp = memchr(line, ' ', len);
        size_t nlen = sp ? (size_t)(sp - line) : len;
        char save = line[nlen];
        const struct command *c;
        line[nlen] = '\0';
        c = find_command(line);
        line[nlen] = save;
        if (c) max = c->max_fields;
    }
    for (i = 0; i <= len; i++) {
        if (i == len || (line[i] == sep && count + 1 < max)) {
            if (count == cap) {
                char **nf;
                size_t *nl;
                cap *= 2;
                nf = realloc(fields, sizeof *fields * (size_t)cap);
                if (!nf) { free(fields); free(lens); return -1; }
                fields = nf;
                nl = realloc(lens, sizeof *lens * (size_t)cap);
                if (!nl) { free(fields); free(lens); return -1; }
                lens = nl;
            }
            fields[count] = line + start;
            lens[count] = i - start;
            count++;
            start = i + 1;
        }
    }
    *fields_out = fields;
    *lens_out = lens;
    return count;
}

static void handle_line(char *line, size_t len)
{
    char **raw = NULL;
    size_t *rawlens = NULL;
    struct args a = { 0, NULL, NULL };
    const struct command *c;
    const char *why = NULL;
    char *name = NULL;
    int n, i;

    n = split_line(line, len, &raw, &rawlens);
    if (n <= 0) { say_err("?", "out of memory"); return; }
    a.argv = calloc((size_t)n + 1, sizeof *a.argv);
    a.lens = calloc((size_t)n + 1, sizeof *a.lens);
    if (!a.argv || !a.lens) { say_err("?", "out of memory"); goto done; }
    for (i = 0; i < n; i++) {
        a.argv[i] = unescape(raw[i], rawlens[i], &a.lens[i], &why);
        if (!a.argv[i]) {
            /* Name the command as well as we can in the error record. */
            name = i > 0 ? a.argv[0] : NULL;
            say_err(name ? name : "?", "field %d: %s", i + 1, why);
            goto done;
        }
        a.argc++;
    }
    c = find_command(a.argv[0]);
    if (!c) {
        say_err(a.argv[0][0] ? a.argv[0] : "?", "unknown command");
        goto done;
    }
    if (a.argc < c->min_fields || a.argc > c->max_fields) {
        say_err(c->name, "usage: %s", c->usage);
        goto done;
    }
    if (c->needs_init && !initialised) {
        say_err(c->name, "not initialised: send init first");
        goto done;
    }
    c->run(&a);

done:
    if (a.argv) for (i = 0; i < a.argc; i++) free(a.argv[i]);
    free(a.argv);
    free(a.lens);
    free(raw);
    free(rawlens);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;

    OTRL_INIT;
    us = otrl_userstate_create();
    if (!us) { fprintf(stderr, "libotr-peer: cannot create libotr user state\n"); return 1; }

    rec_begin("ready");
    rec_str("impl=libotr");
    rec_fmt("version=%s", otrl_version());
    rec_end();

    while ((got = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        line[len] = '\0';
        if (len == 0) continue;
        handle_line(line, len);
    }
    free(line);
    cleanup();
    return 0;
}
