// crypto/revocation_cache.cc: being written (issue 12); see revocation_cache.h.
#include "crypto/revocation_cache.h"
