#include "common/lifecycle.h"

struct mdsm_lifecycle mdsm_life;
