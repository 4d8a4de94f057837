/* The YAML loader lives in libtenbus (lib/yamljson.h), which also reads
 * event catalogues with it; the daemon includes it from here. */
#include "../../lib/yamljson.h"
