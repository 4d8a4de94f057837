#ifndef TBD_VERSION_H
#define TBD_VERSION_H
#include <tenbus/tenbus.h>

#define TBD_VERSION TB_VERSION
const char *tbd_version(void);
#endif
