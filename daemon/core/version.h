#ifndef TBD_VERSION_H
#define TBD_VERSION_H
#define TBD_VERSION "0.1.0"
const char *tbd_version(void);
#endif
