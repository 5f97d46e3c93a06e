#ifndef BURNLINK_CSODIUM_SHIM_H
#define BURNLINK_CSODIUM_SHIM_H
#include <sodium.h>
#endif
