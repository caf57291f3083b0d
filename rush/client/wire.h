/*
 * wire.h — fdwire frames and the few FlatBuffers messages the rush client sends and reads,
 * hand-encoded and hand-decoded (no FlatBuffers runtime: the client is plain static C).
 *
 * Layouts follow docs/protocol.md, schemas/fdwire.fbs and rush/schemas/{rush_exec,rush_result,
 * rush_run_locally}.fbs; their constants are native/wire.h's, shared with the addon. Decoding never
 * trusts the peer: every offset and length is checked against the received bytes before it is
 * followed.
 */
#ifndef RUSH_WIRE_H
#define RUSH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "../../native/wire.h"

/* The client refuses larger frames: its replies are a few hundred bytes. */
#define WIRE_MAX_FRAME (1u << 20)

/* What the client asks rushd to run. */
struct exec_request {
    char *const *argv; /* argv[0..argc): SCRIPT, NAME?, ARG... */
    size_t argc;
    const char *cwd;
    char *const *env; /* NULL-terminated, "KEY=VALUE" */
    uint32_t umask;
    const uint8_t *roles; /* one RUSH_ROLE_* per fd sent */
    size_t nroles;
    uint32_t line; /* interactive session: this input line's number (1-based); 0 for rush -c */
};

/* Upper bound of the frame (header included) that wire_encode_exec writes for `r`. */
size_t wire_exec_size(const struct exec_request *r);

/* Writes the frame header and the Envelope{Request{id, "rush.exec", ExecRequest}} payload
 * into `out` (wire_exec_size bytes); returns the frame's length (header + payload). */
size_t wire_encode_exec(uint8_t *out, uint32_t id, unsigned fd_count, const struct exec_request *r);

/* A byte range inside a verified frame. */
struct span {
    const uint8_t *p;
    uint32_t n;
};

/* What an envelope holds: the two messages the client reads, by their union values, or another. */
enum msg_kind { MSG_HELLO = FDWIRE_MESSAGE_HELLO, MSG_RESPONSE = FDWIRE_MESSAGE_RESPONSE, MSG_OTHER = 99 };

/* A decoded Response (only the fields the client uses). */
struct response {
    uint32_t id;
    unsigned status;           /* FDWIRE_STATUS_* */
    struct span code, message; /* ErrorInfo; empty when absent */
    struct span body;          /* empty when absent */
};

/* Checks a frame header (FDWIRE_HEADER_SIZE bytes). Returns 0 and the payload length, or -1 with *why set. */
int wire_check_header(const uint8_t *h, uint32_t *length, const char **why);

/* Decodes an Envelope payload. Returns its kind (filling *out for MSG_RESPONSE) or -1 with *why
 * when the payload is malformed. */
int wire_decode_envelope(const uint8_t *p, uint32_t n, struct response *out, const char **why);

enum reply_kind { REPLY_RESULT = 1, REPLY_RUN_LOCALLY = 2, REPLY_EXEC_LOCALLY = 3 };

/* A program the client execs in its own place (a RunLocally with `program`). The strings point
 * into the received frame (each checked to end in its NUL, with none inside); the two arrays are
 * malloc'ed and NULL-terminated, ready for execve(2). */
struct local_exec {
    char *program;
    char **argv;
    char **env;
};

/* Frees the arrays of a decoded local_exec (not the strings: they are the frame's). */
void wire_local_exec_free(struct local_exec *e);

/* Decodes the body of the Response to rush.exec: a Result ("RRES": *status, *signal, and *ended:
 * 1 when the command ended the session), or a RunLocally ("RLOC": *reason) that is
 * REPLY_EXEC_LOCALLY when it names a program (*exec filled) and REPLY_RUN_LOCALLY (`/bin/sh -c`)
 * when not. Returns the kind, or -1 with *why. */
int wire_decode_exec_reply(struct span body, int32_t *status, int32_t *signal, int *ended, struct span *reason,
                           struct local_exec *exec, const char **why);

#endif
