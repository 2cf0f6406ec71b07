/* Crash points for fault-injection tests (see include/bcos/fault.h). */
#include "bcos/fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

int bcos_fault_armed(const char *point) {
    const char *armed = getenv(BCOS_CRASH_ENV);
    return armed && strcmp(armed, point) == 0;
}

void bcos_fault_point(const char *point) {
    if (bcos_fault_armed(point)) raise(SIGKILL);
}
