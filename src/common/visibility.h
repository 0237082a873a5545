/* Force-included into every library source: the declarations of mdsm.h and
 * mdsm_papi.h become the exported symbols, everything else stays hidden
 * (-fvisibility=hidden), except papi_sde_hook_list_events (papi/sde.c). */
#pragma GCC visibility push(default)
#include "mdsm.h"
#include "mdsm_papi.h"
#pragma GCC visibility pop
