/* Force-included into every library source: the declarations of mdsm.h become
 * the exported symbols, everything else stays hidden (-fvisibility=hidden). */
#pragma GCC visibility push(default)
#include "mdsm.h"
#pragma GCC visibility pop
