/*
 * Structured logs: one JSON object per line on stdout, written whole (lines from different
 * threads never interleave). Never pass secrets or query strings in.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <jansson.h>

#include "common/attr.h"

typedef enum gw_log_level {
    GW_LOG_DEBUG,
    GW_LOG_INFO,
    GW_LOG_WARN,
    GW_LOG_ERROR,
} gw_log_level_t;

/** Parses "debug", "info", "warn", "error"; returns 0 or -1. */
GW_MUST_CHECK int gw_log_level_parse(const char *name, gw_log_level_t *out);
void gw_log_set_level(gw_log_level_t level);
int gw_log_enabled(gw_log_level_t level);

/**
 * Writes {"time":..., "level":..., "event": event, ...fields} as one line. Steals `fields`
 * (an object or NULL). Does nothing (but still releases fields) below the configured level.
 */
void gw_log(gw_log_level_t level, const char *event, json_t *fields);

#endif
