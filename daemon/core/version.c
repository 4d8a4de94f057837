#include "core/version.h"

const char *tbd_version(void) { return TBD_VERSION; }
