/* Offrecord test helper (MIT OR Apache-2.0): makes and reads libotr 4.1.1 key files.
 * Build: gcc -o kftool kftool.c -lotr -lgcrypt   (libotr5-dev, libgcrypt20-dev)
 * Usage: kftool gen FILE ACCOUNT PROTOCOL [ACCOUNT PROTOCOL ...]
 *        kftool addgen FILE ACCOUNT PROTOCOL      (read FILE first, then add a key)
 *        kftool readkeys FILE
 *        kftool fpwrite FILE USER ACCOUNT PROTOCOL HEXFP TRUST|- [...]
 *        kftool fpread FILE
 *        kftool instagwrite FILE ACCOUNT PROTOCOL [...]
 *        kftool instagread FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gcrypt.h>
#include <libotr/proto.h>
#include <libotr/userstate.h>
#include <libotr/privkey.h>
#include <libotr/context.h>
#include <libotr/instag.h>

static void dump_mpi(gcry_sexp_t key, const char *name) {
    gcry_sexp_t s = gcry_sexp_find_token(key, name, 0);
    if (!s) { printf("  %s MISSING\n", name); return; }
    gcry_mpi_t m = gcry_sexp_nth_mpi(s, 1, GCRYMPI_FMT_USG);
    unsigned char *buf = NULL;
    gcry_mpi_aprint(GCRYMPI_FMT_HEX, &buf, NULL, m);
    printf("  %s %s\n", name, buf);
    gcry_free(buf); gcry_mpi_release(m); gcry_sexp_release(s);
}

static int unhex(const char *h, unsigned char out[20]) {
    for (int i = 0; i < 20; i++) { unsigned v; if (sscanf(h + 2*i, "%2x", &v) != 1) return -1; out[i] = v; }
    return 0;
}

int main(int argc, char **argv) {
    OTRL_INIT;
    OtrlUserState us = otrl_userstate_create();
    if (argc < 3) { fprintf(stderr, "usage\n"); return 2; }
    const char *cmd = argv[1], *file = argv[2];
    gcry_error_t err = 0;
    if (!strcmp(cmd, "addgen")) {  /* addgen file acct proto: read file, then generate into it */
        err = otrl_privkey_read(us, file);
        if (!err) err = otrl_privkey_generate(us, file, argv[3], argv[4]);
    } else if (!strcmp(cmd, "gen")) {            /* gen file acct proto [acct proto ...] */
        for (int i = 3; i + 1 < argc; i += 2) {
            err = otrl_privkey_generate(us, file, argv[i], argv[i+1]);
            if (err) break;
        }
    } else if (!strcmp(cmd, "readkeys")) { /* readkeys file */
        err = otrl_privkey_read(us, file);
        if (!err) for (OtrlPrivKey *p = us->privkey_root; p; p = p->next) {
            char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
            unsigned char raw[20];
            otrl_privkey_fingerprint(us, human, p->accountname, p->protocol);
            otrl_privkey_fingerprint_raw(us, raw, p->accountname, p->protocol);
            printf("account [%s] protocol [%s] fp ", p->accountname, p->protocol);
            for (int i = 0; i < 20; i++) printf("%02x", raw[i]);
            printf(" (%s)\n", human);
            const char *names[] = {"p","q","g","y","x"};
            for (int i = 0; i < 5; i++) dump_mpi(p->privkey, names[i]);
        }
    } else if (!strcmp(cmd, "fpwrite")) { /* fpwrite file user acct proto hexfp trust|- ... */
        for (int i = 3; i + 4 < argc; i += 5) {
            int added = 0;
            ConnContext *c = otrl_context_find(us, argv[i], argv[i+1], argv[i+2], OTRL_INSTAG_MASTER, 1, &added, NULL, NULL);
            unsigned char raw[20];
            if (!c || unhex(argv[i+3], raw)) { fprintf(stderr, "bad\n"); return 1; }
            Fingerprint *f = otrl_context_find_fingerprint(c, raw, 1, &added);
            if (strcmp(argv[i+4], "-")) otrl_context_set_trust(f, argv[i+4]);
        }
        err = otrl_privkey_write_fingerprints(us, file);
    } else if (!strcmp(cmd, "fpread")) {
        err = otrl_privkey_read_fingerprints(us, file, NULL, NULL);
        if (!err) for (ConnContext *c = us->context_root; c; c = c->next) {
            for (Fingerprint *f = c->fingerprint_root.next; f; f = f->next) {
                printf("user [%s] account [%s] protocol [%s] fp ", c->username, c->accountname, c->protocol);
                for (int i = 0; i < 20; i++) printf("%02x", f->fingerprint[i]);
                printf(" trust [%s]\n", f->trust ? f->trust : "(null)");
            }
        }
    } else if (!strcmp(cmd, "instagwrite")) { /* instagwrite file acct proto ... (generate) */
        for (int i = 3; i + 1 < argc; i += 2) {
            err = otrl_instag_generate(us, file, argv[i], argv[i+1]);
            if (err) break;
        }
    } else if (!strcmp(cmd, "instagread")) {
        err = otrl_instag_read(us, file);
        if (!err) for (OtrlInsTag *t = us->instag_root; t; t = t->next)
            printf("account [%s] protocol [%s] instag %08x\n", t->accountname, t->protocol, t->instag);
    } else { fprintf(stderr, "unknown\n"); return 2; }
    if (err) { fprintf(stderr, "error: %s\n", gcry_strerror(err)); return 1; }
    otrl_userstate_free(us);
    return 0;
}
