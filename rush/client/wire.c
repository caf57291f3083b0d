/*
 * wire.c — fdwire frames and rush's FlatBuffers messages, encoded front to back and decoded with
 * bounds checks. Relies on nothing but the FlatBuffers binary format
 * (https://flatbuffers.dev/internals/) and docs/protocol.md; no system calls here.
 *
 * Encoding: tables are laid out parents first, so every uoffset points forward as the format
 * requires: [root uoffset][file identifier][vtable][table]...[strings/vectors]. Each vtable sits
 * just before its table (soffset = table - vtable > 0, as the standard builder writes it).
 * Integers are little-endian; we write them byte by byte so the code is endian- and
 * alignment-neutral. Padding is always written as zeros.
 *
 * Decoding: a reply comes from another process that may be broken or hostile. Every read goes
 * through fb_* helpers that check position + size against the buffer's length in 64-bit
 * arithmetic (no overflow), so the worst a bad buffer can do is be rejected.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* ---------- little-endian primitives ---------- */

static void w16(uint8_t *b, size_t at, uint16_t v) {
    b[at] = (uint8_t)v;
    b[at + 1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *b, size_t at, uint32_t v) {
    b[at] = (uint8_t)v;
    b[at + 1] = (uint8_t)(v >> 8);
    b[at + 2] = (uint8_t)(v >> 16);
    b[at + 3] = (uint8_t)(v >> 24);
}

static uint16_t r16(const uint8_t *b, size_t at) { return (uint16_t)(b[at] | (b[at + 1] << 8)); }

static uint32_t r32(const uint8_t *b, size_t at) {
    return (uint32_t)b[at] | ((uint32_t)b[at + 1] << 8) | ((uint32_t)b[at + 2] << 16) | ((uint32_t)b[at + 3] << 24);
}

/* Zero-fills from `pos` until pos % align == rem; returns the new position. */
static size_t pad_to(uint8_t *b, size_t pos, size_t align, size_t rem) {
    while (pos % align != rem) b[pos++] = 0;
    return pos;
}

/* Bytes a string of length n takes: length prefix, bytes, NUL, padding to 4. */
static size_t string_size(size_t n) { return (4 + n + 1 + 3) & ~(size_t)3; }

/* Writes a string at `pos` (4-aligned); returns the 4-aligned end. */
static size_t put_string(uint8_t *b, size_t pos, const char *s, size_t n) {
    w32(b, pos, (uint32_t)n);
    memcpy(b + pos + 4, s, n);
    b[pos + 4 + n] = 0;
    return pad_to(b, pos + 4 + n + 1, 4, 0);
}

/* Stores at `slot` the uoffset to `target` (which is after it). */
static void put_offset(uint8_t *b, size_t slot, size_t target) { w32(b, slot, (uint32_t)(target - slot)); }

/* Writes a vector of strings at `pos` (4-aligned): count, one uoffset slot per string, then the
 * strings in order. Returns the end. */
static size_t put_strings(uint8_t *b, size_t pos, char *const *items, size_t n) {
    w32(b, pos, (uint32_t)n);
    size_t at = pos + 4 + 4 * n;
    for (size_t i = 0; i < n; i++) {
        put_offset(b, pos + 4 + 4 * i, at);
        at = put_string(b, at, items[i], strlen(items[i]));
    }
    return at;
}

static void put_ident(uint8_t *b, size_t at, const char *ident) { memcpy(b + at, ident, 4); }

/* ---------- frames and the envelope ---------- */

static void put_header(uint8_t *h, unsigned fd_count, uint32_t length, uint32_t id) {
    h[FDWIRE_AT_MAGIC] = FDWIRE_MAGIC0;
    h[FDWIRE_AT_MAGIC + 1] = FDWIRE_MAGIC1;
    h[FDWIRE_AT_VERSION] = FDWIRE_VERSION;
    h[FDWIRE_AT_FD_COUNT] = (uint8_t)fd_count;
    w32(h, FDWIRE_AT_LENGTH, length);
    w32(h, FDWIRE_AT_ID, id);
    w16(h, FDWIRE_AT_TYPE, FDWIRE_FRAME_TYPE_ENVELOPE);
    w16(h, FDWIRE_AT_FLAGS, FDWIRE_FLAGS_NONE);
}

/*
 * Writes Envelope{message_type: Request, message: Request{id, method, body}} up to the body's
 * bytes, into the payload `b`. Returns the position of the body vector's length field; the body
 * itself starts 4 bytes later, 8-aligned within the payload (the schema's force_align: 8).
 *
 *   0  root uoffset -> 16        4  "FDWR"
 *   8  Envelope vtable {8, 12, type@8, message@4}
 *  16  Envelope table {soffset 8, message -> 40, type 2 (Request), pad}
 *  28  Request vtable {10, 16, id@4, method@8, body@12} + 2 bytes pad
 *  40  Request table {soffset 12, id, method -> 56, body -> vector}
 *  56  method string, then padding until the vector's data is 8-aligned
 */
static size_t put_request_envelope(uint8_t *b, uint32_t id, const char *method) {
    w32(b, 0, 16);
    put_ident(b, 4, FDWIRE_ENVELOPE_IDENTIFIER);
    w16(b, 8, 8);
    w16(b, 10, 12);
    w16(b, 12, 8);
    w16(b, 14, 4);
    w32(b, 16, 8);
    put_offset(b, 20, 40);
    b[24] = FDWIRE_MESSAGE_REQUEST;
    b[25] = b[26] = b[27] = 0;
    w16(b, 28, 10);
    w16(b, 30, 16);
    w16(b, 32, 4);
    w16(b, 34, 8);
    w16(b, 36, 12);
    w16(b, 38, 0);
    w32(b, 40, 12);
    w32(b, 44, id);
    put_offset(b, 48, 56);
    size_t pos = put_string(b, 56, method, strlen(method));
    pos = pad_to(b, pos, 8, 4);
    put_offset(b, 52, pos);
    return pos;
}

/* Room for put_request_envelope with a method of at most 15 bytes, the body's alignment padding
 * and the padding after the body. */
#define ENVELOPE_ROOM (56 + 20 + 4 + 4 + 8)
_Static_assert(sizeof RUSH_METHOD_EXEC - 1 <= 15, "method fits ENVELOPE_ROOM");

/* Completes the envelope once the body (at vec + 4) is `n` bytes long; returns the payload size. */
static size_t end_request_envelope(uint8_t *b, size_t vec, size_t n) {
    w32(b, vec, (uint32_t)n);
    return pad_to(b, vec + 4 + n, 4, 0);
}

/* ---------- rush.exec ---------- */

size_t wire_exec_size(const struct exec_request *r) {
    size_t n = FDWIRE_HEADER_SIZE + ENVELOPE_ROOM + 60;
    n += 4 + 4 * r->argc;
    for (size_t i = 0; i < r->argc; i++) n += string_size(strlen(r->argv[i]));
    n += string_size(strlen(r->cwd));
    n += 4;
    for (char *const *e = r->env; e && *e; e++) n += 4 + string_size(strlen(*e));
    n += 4 + r->nroles + 3;
    return n;
}

/*
 * The ExecRequest body (positions relative to the body's start):
 *
 *   0  root uoffset -> 28        4  "RXEC"
 *   8  vtable {18, 32, argv@4, cwd@8, env@12, umask@16, stdin_mode@28, fd_roles@20, line@24}
 *  26  2 bytes of padding
 *  28  table {soffset 20, argv, cwd, env, umask, fd_roles, line, stdin_mode (u8), pad}
 *  60  argv vector + strings, cwd, env vector + strings, fd_roles vector
 *
 * umask, stdin_mode (Inherit = 0) and line are always written, even when they equal their
 * defaults: fixed-size tables keep the encoder branch-free and every reader handles explicit
 * defaults.
 */
static size_t put_exec_body(uint8_t *b, const struct exec_request *r) {
    w32(b, 0, 28);
    put_ident(b, 4, RUSH_EXEC_IDENTIFIER);
    static const uint16_t vt[9] = {18, 32, 4, 8, 12, 16, 28, 20, 24};
    for (int i = 0; i < 9; i++) w16(b, 8 + 2 * (size_t)i, vt[i]);
    w16(b, 26, 0);
    w32(b, 28, 20);
    w32(b, 44, r->umask);
    w32(b, 52, r->line);
    b[56] = RUSH_STDIN_INHERIT;
    b[57] = b[58] = b[59] = 0;
    size_t pos = 60;
    put_offset(b, 32, pos);
    pos = put_strings(b, pos, r->argv, r->argc);
    put_offset(b, 36, pos);
    pos = put_string(b, pos, r->cwd, strlen(r->cwd));
    size_t envc = 0;
    while (r->env && r->env[envc]) envc++;
    put_offset(b, 40, pos);
    pos = put_strings(b, pos, r->env, envc);
    put_offset(b, 48, pos);
    w32(b, pos, (uint32_t)r->nroles);
    if (r->nroles) memcpy(b + pos + 4, r->roles, r->nroles);
    return pos + 4 + r->nroles;
}

size_t wire_encode_exec(uint8_t *out, uint32_t id, unsigned fd_count, const struct exec_request *r) {
    uint8_t *p = out + FDWIRE_HEADER_SIZE;
    size_t vec = put_request_envelope(p, id, RUSH_METHOD_EXEC);
    size_t body = put_exec_body(p + vec + 4, r);
    size_t len = end_request_envelope(p, vec, body);
    put_header(out, fd_count, (uint32_t)len, id);
    return FDWIRE_HEADER_SIZE + len;
}

/* ---------- decoding ---------- */

int wire_check_header(const uint8_t *h, uint32_t *length, const char **why) {
    if (h[FDWIRE_AT_MAGIC] != FDWIRE_MAGIC0 || h[FDWIRE_AT_MAGIC + 1] != FDWIRE_MAGIC1) {
        *why = "bad frame magic";
        return -1;
    }
    if (h[FDWIRE_AT_VERSION] != FDWIRE_VERSION) {
        *why = "unsupported frame version";
        return -1;
    }
    if (r16(h, FDWIRE_AT_FLAGS) != FDWIRE_FLAGS_NONE) {
        *why = "reserved frame flags set";
        return -1;
    }
    *length = r32(h, FDWIRE_AT_LENGTH);
    if (*length > WIRE_MAX_FRAME) {
        *why = "frame larger than 1 MiB";
        return -1;
    }
    return 0;
}

/* A buffer being decoded. Positions are uint64_t so that position + size never wraps. */
struct fb {
    const uint8_t *p;
    uint64_t n;
};

/* Absolute position of field `id` (inline size `size`) of the table at `t`; 0 when absent (0 is
 * never a valid field position: the root offset lives there), -1 when the table is malformed. */
static int64_t fb_field(struct fb b, uint64_t t, unsigned id, unsigned size) {
    if (t + 4 > b.n || (t & 3)) return -1;
    int64_t vt = (int64_t)t - (int32_t)r32(b.p, t);
    if (vt < 0 || (uint64_t)vt + 4 > b.n || (vt & 1)) return -1;
    uint16_t vtsize = r16(b.p, (size_t)vt), tsize = r16(b.p, (size_t)vt + 2);
    if (vtsize < 4 || (vtsize & 1) || (uint64_t)vt + vtsize > b.n) return -1;
    if (tsize < 4 || t + tsize > b.n) return -1;
    unsigned entry = 4 + 2 * id;
    if (entry + 2 > vtsize) return 0;
    uint16_t off = r16(b.p, (size_t)vt + entry);
    if (off == 0) return 0;
    if (off < 4 || (uint64_t)off + size > tsize) return -1;
    return (int64_t)(t + off);
}

/* Follows the uoffset at `at`; returns the target or -1. */
static int64_t fb_deref(struct fb b, uint64_t at) {
    if ((at & 3) || at + 4 > b.n) return -1;
    uint32_t o = r32(b.p, at);
    if (o == 0 || o > 0x7fffffff || at + o >= b.n) return -1;
    return (int64_t)(at + o);
}

/* The string whose uoffset is at `at`: bounds and NUL terminator checked. */
static int fb_string(struct fb b, uint64_t at, struct span *out) {
    int64_t s = fb_deref(b, at);
    if (s < 0 || (uint64_t)s + 4 > b.n) return -1;
    uint64_t len = r32(b.p, (uint64_t)s);
    if ((uint64_t)s + 4 + len + 1 > b.n || b.p[(uint64_t)s + 4 + len] != 0) return -1;
    out->p = b.p + s + 4;
    out->n = (uint32_t)len;
    return 0;
}

/* The byte vector whose uoffset is at `at`. */
static int fb_bytes(struct fb b, uint64_t at, struct span *out) {
    int64_t v = fb_deref(b, at);
    if (v < 0 || (uint64_t)v + 4 > b.n) return -1;
    uint64_t len = r32(b.p, (uint64_t)v);
    if ((uint64_t)v + 4 + len > b.n) return -1;
    out->p = b.p + v + 4;
    out->n = (uint32_t)len;
    return 0;
}

/* The root table of a buffer with file identifier `ident`; -1 when malformed. */
static int64_t fb_root(struct fb b, const char *ident) {
    if (b.n < 8 || memcmp(b.p + 4, ident, 4) != 0) return -1;
    return fb_deref(b, 0);
}

/* Optional string field: absent → empty span. */
static int opt_string(struct fb b, int64_t t, unsigned id, struct span *out) {
    int64_t at = fb_field(b, (uint64_t)t, id, 4);
    out->p = (const uint8_t *)"";
    out->n = 0;
    if (at < 0) return -1;
    return at == 0 ? 0 : fb_string(b, (uint64_t)at, out);
}

int wire_decode_envelope(const uint8_t *p, uint32_t n, struct response *out, const char **why) {
    struct fb b = {p, n};
    *why = "malformed envelope";
    int64_t t = fb_root(b, FDWIRE_ENVELOPE_IDENTIFIER);
    if (t < 0) return -1;
    int64_t type_at = fb_field(b, (uint64_t)t, 0, 1);
    int64_t msg_at = fb_field(b, (uint64_t)t, 1, 4);
    if (type_at < 0 || msg_at < 0) return -1;
    unsigned type = type_at ? b.p[type_at] : 0;
    if (type != MSG_RESPONSE) return type == MSG_HELLO ? MSG_HELLO : MSG_OTHER;
    if (msg_at == 0) return -1;
    int64_t m = fb_deref(b, (uint64_t)msg_at);
    if (m < 0) return -1;
    int64_t id_at = fb_field(b, (uint64_t)m, 0, 4);
    int64_t status_at = fb_field(b, (uint64_t)m, 1, 1);
    int64_t error_at = fb_field(b, (uint64_t)m, 2, 4);
    int64_t body_at = fb_field(b, (uint64_t)m, 3, 4);
    if (id_at < 0 || status_at < 0 || error_at < 0 || body_at < 0) return -1;
    out->id = id_at ? r32(b.p, (uint64_t)id_at) : 0;
    out->status = status_at ? b.p[status_at] : 0;
    out->code.p = out->message.p = out->body.p = (const uint8_t *)"";
    out->code.n = out->message.n = out->body.n = 0;
    if (error_at) {
        int64_t e = fb_deref(b, (uint64_t)error_at);
        if (e < 0 || opt_string(b, e, 0, &out->code) < 0 || opt_string(b, e, 1, &out->message) < 0) return -1;
    }
    if (body_at && fb_bytes(b, (uint64_t)body_at, &out->body) < 0) return -1;
    return MSG_RESPONSE;
}

/* A C string for execve: the FlatBuffers string whose uoffset is at `at`, with no NUL inside. */
static int fb_cstring(struct fb b, uint64_t at, char **out) {
    struct span s;
    if (fb_string(b, at, &s) < 0 || memchr(s.p, 0, s.n) != NULL) return -1;
    *out = (char *)(uintptr_t)s.p; /* the frame is ours and writable; execve only reads it */
    return 0;
}

/* Execve's limit on argv + envp together is far lower; this only bounds the allocation. */
#define WIRE_MAX_STRINGS 65536

/* A NULL-terminated array of the C strings of the vector of strings whose uoffset is at `at`
 * (absent: an empty array). */
static int fb_cstrings(struct fb b, int64_t at, char ***out) {
    uint64_t len = 0;
    int64_t v = 0;
    if (at != 0) {
        v = fb_deref(b, (uint64_t)at);
        if (v < 0 || (uint64_t)v + 4 > b.n) return -1;
        len = r32(b.p, (uint64_t)v);
        if (len > WIRE_MAX_STRINGS || (uint64_t)v + 4 + 4 * len > b.n) return -1;
    }
    char **list = malloc((size_t)(len + 1) * sizeof *list);
    if (!list) return -1;
    for (uint64_t i = 0; i < len; i++) {
        if (fb_cstring(b, (uint64_t)v + 4 + 4 * i, &list[i]) < 0) {
            free(list);
            return -1;
        }
    }
    list[len] = NULL;
    *out = list;
    return 0;
}

void wire_local_exec_free(struct local_exec *e) {
    free(e->argv);
    free(e->env);
    e->program = NULL;
    e->argv = e->env = NULL;
}

/* The program of a RunLocally table, when it names one: 1 (filled), 0 (absent) or -1. */
static int decode_local_exec(struct fb b, int64_t t, struct local_exec *exec) {
    int64_t program = fb_field(b, (uint64_t)t, 1, 4), argv = fb_field(b, (uint64_t)t, 2, 4),
            env = fb_field(b, (uint64_t)t, 3, 4);
    if (program < 0 || argv < 0 || env < 0) return -1;
    if (program == 0) return 0;
    struct local_exec e = {NULL, NULL, NULL};
    if (fb_cstring(b, (uint64_t)program, &e.program) < 0 || e.program[0] == 0 || fb_cstrings(b, argv, &e.argv) < 0)
        return -1;
    if (e.argv[0] == NULL || fb_cstrings(b, env, &e.env) < 0) {
        wire_local_exec_free(&e);
        return -1;
    }
    *exec = e;
    return 1;
}

int wire_decode_exec_reply(struct span body, int32_t *status, int32_t *signal, int *ended, struct span *reason,
                           struct local_exec *exec, const char **why) {
    struct fb b = {body.p, body.n};
    *why = "malformed reply body";
    if (b.n >= 8 && memcmp(b.p + 4, RUSH_RESULT_IDENTIFIER, 4) == 0) {
        int64_t t = fb_root(b, RUSH_RESULT_IDENTIFIER);
        if (t < 0) return -1;
        int64_t s = fb_field(b, (uint64_t)t, 0, 4), g = fb_field(b, (uint64_t)t, 1, 4),
                e = fb_field(b, (uint64_t)t, 2, 1);
        if (s < 0 || g < 0 || e < 0) return -1;
        *status = s ? (int32_t)r32(b.p, (uint64_t)s) : 0;
        *signal = g ? (int32_t)r32(b.p, (uint64_t)g) : 0;
        *ended = e ? b.p[e] != 0 : 0;
        return REPLY_RESULT;
    }
    if (b.n >= 8 && memcmp(b.p + 4, RUSH_RUN_LOCALLY_IDENTIFIER, 4) == 0) {
        int64_t t = fb_root(b, RUSH_RUN_LOCALLY_IDENTIFIER);
        if (t < 0 || opt_string(b, t, 0, reason) < 0) return -1;
        int named = decode_local_exec(b, t, exec);
        if (named < 0) return -1;
        return named ? REPLY_EXEC_LOCALLY : REPLY_RUN_LOCALLY;
    }
    *why = "reply body is neither a Result nor a RunLocally";
    return -1;
}
