#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"

static gw_log_level_t log_level = GW_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int gw_log_level_parse(const char *name, gw_log_level_t *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (gw_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void gw_log_set_level(gw_log_level_t level)
{
    log_level = level;
}

int gw_log_enabled(gw_log_level_t level)
{
    return level >= log_level;
}

void gw_log(gw_log_level_t level, const char *event, json_t *fields)
{
    if (!gw_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char when[GW_RFC3339_LEN];
    json_t *line = json_pack("{s:s, s:s, s:s}", "time", gw_clock_rfc3339(gw_clock_unix_ms(), when, sizeof(when)), "level",
                             level_names[level], "event", event);
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    if (fields != NULL)
        json_object_update(line, fields);
    json_decref(fields);
    gw_json_buf_t buf = {.real_precision = 6};
    gw_json_buf_value(&buf, line);
    char *text = gw_json_buf_take(&buf, NULL);
    json_decref(line);
    if (text == NULL)
        return;
    /* One locked write per line, so that lines from worker threads stay whole. */
    flockfile(stdout);
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
    free(text);
}
