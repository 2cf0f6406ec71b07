/* The backend registry: the backends built into this binary, found by name at run time. It sits above
 * every backend (src/cpu, later src/cuda), so that no backend knows another. */
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"

/* Best first, since "auto" takes the first: a CUDA backend goes in front of the CPU when built in. */
static const bcos_backend *(*const builtins[])(void) = {bcos_backend_cpu};
#define BUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

const bcos_backend *bcos_backend_builtin(int i) { return i >= 0 && i < BUILTINS ? builtins[i]() : NULL; }

const bcos_backend *bcos_backend_get(const char *name) {
    BCOS_CHECK(name != NULL, "name a backend: cpu, cuda or auto");
    if (strcmp(name, "auto") == 0)
        return bcos_backend_builtin(0);
    for (int i = 0; i < BUILTINS; i++)
        if (strcmp(builtins[i]()->name, name) == 0)
            return builtins[i]();
    return NULL;
}
