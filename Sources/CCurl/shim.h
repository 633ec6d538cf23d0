#ifndef ENTRA_CCURL_SHIM_H
#define ENTRA_CCURL_SHIM_H
#include <curl/curl.h>
#endif
