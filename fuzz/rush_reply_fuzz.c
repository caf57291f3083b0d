/*
 * libFuzzer harness for the rush client's reply decoder (rush/client/wire.c): the C code that
 * reads bytes a daemon sent. Input: a frame header + payload as received. The harness decodes the
 * way the client does (header, envelope, then the exec reply in a Response body) and checks that
 * every span it was given lies inside the input (and every string of a program to exec, NUL
 * included): a hostile daemon must never make the client read
 * out of bounds (ASan reports that) or hand back pointers outside the frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rush/client/wire.h"

static void inside(const uint8_t *base, size_t size, struct span s, const char *what) {
  if (s.n == 0) return;
  if (s.p < base || s.p + s.n > base + size) {
    fprintf(stderr, "span outside the frame: %s\n", what);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < FDWIRE_HEADER_SIZE) return 0;
  uint32_t length;
  const char *why = NULL;
  /* Copy into an exact-size heap buffer so ASan catches any read past the end. */
  uint8_t *frame = malloc(size);
  memcpy(frame, data, size);
  if (wire_check_header(frame, &length, &why) == 0 && length <= size - FDWIRE_HEADER_SIZE) {
    const uint8_t *payload = frame + FDWIRE_HEADER_SIZE;
    struct response r;
    memset(&r, 0, sizeof r);
    int kind = wire_decode_envelope(payload, length, &r, &why);
    if (kind == MSG_RESPONSE) {
      inside(payload, length, r.code, "error code");
      inside(payload, length, r.message, "error message");
      inside(payload, length, r.body, "body");
      int32_t status, signo;
      int ended;
      struct span reason = {0};
      struct local_exec exec = {0};
      int reply = wire_decode_exec_reply(r.body, &status, &signo, &ended, &reason, &exec, &why);
      if (reply == REPLY_RUN_LOCALLY || reply == REPLY_EXEC_LOCALLY)
        inside(payload, length, reason, "run-locally reason");
      if (reply == REPLY_EXEC_LOCALLY) {
        /* Every string execve would read: inside the frame, NUL-terminated there. */
        struct span p = {(const uint8_t *)exec.program, (uint32_t)strlen(exec.program) + 1};
        inside(payload, length, p, "program");
        for (char **l = exec.argv; *l; l++)
          inside(payload, length, (struct span){(const uint8_t *)*l, (uint32_t)strlen(*l) + 1}, "argv");
        for (char **l = exec.env; *l; l++)
          inside(payload, length, (struct span){(const uint8_t *)*l, (uint32_t)strlen(*l) + 1}, "env");
        wire_local_exec_free(&exec);
      }
    }
  }
  free(frame);
  return 0;
}
