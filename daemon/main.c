#include <stdio.h>
#include "version.h"

int main(void) { printf("tenbusd %s (under construction)\n", tbd_version()); return 1; }
