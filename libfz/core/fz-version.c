#include "fz-version.h"

const char *
fz_version (void)
{
  return FZ_VERSION_STRING;
}
