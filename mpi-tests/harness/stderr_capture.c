/* Captures a rank's stderr, for tests of what mdsm prints (or must not print). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mt.h"

static int saved_fd = -1;
static FILE *capture;

void mt_stderr_begin(void)
{
    fflush(stderr);
    capture = tmpfile();
    saved_fd = dup(STDERR_FILENO);
    if (capture && saved_fd >= 0)
        dup2(fileno(capture), STDERR_FILENO);
}

char *mt_stderr_end(void)
{
    fflush(stderr);
    if (saved_fd >= 0) {
        dup2(saved_fd, STDERR_FILENO);
        close(saved_fd);
        saved_fd = -1;
    }
    char *text = calloc(1, 65536);
    if (capture) {
        rewind(capture);
        size_t n = fread(text, 1, 65535, capture);
        text[n] = '\0';
        fclose(capture);
        capture = NULL;
    }
    return text;
}
