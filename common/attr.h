/*
 * Function attributes shared by every layer.
 */
#ifndef COMMON_ATTR_H
#define COMMON_ATTR_H

/**
 * Marks a function whose status result must be checked: ignoring it is a compile error (-Werror).
 * A (void) cast does not silence GCC here: handle the result.
 */
#if defined(__GNUC__)
#define GW_MUST_CHECK __attribute__((warn_unused_result))
#else
#define GW_MUST_CHECK
#endif

#endif
