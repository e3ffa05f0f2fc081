/* vk_op_pending.c - placeholders for op families still being written
 * (removed as each lands): they fail cleanly at sync. None left. */
#include "vk_internal.h"
