#ifndef ENTRA_CURL_SHIM_H
#define ENTRA_CURL_SHIM_H
#include <curl/curl.h>
#include <stddef.h>

/* Typed wrappers for libcurl's variadic calls, which Swift cannot call. */
CURLcode esc_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode esc_setopt_ptr(CURL *handle, CURLoption option, const void *value);
CURLcode esc_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode esc_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode esc_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length);
CURLcode esc_setopt_write_cb(CURL *handle, CURLoption option, size_t (*cb)(char *, size_t, size_t, void *));
CURLcode esc_setopt_xferinfo_cb(CURL *handle, int (*cb)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t));
CURLcode esc_getinfo_long(CURL *handle, CURLINFO info, long *value);
/* Opens libcurl's sockets with close-on-exec; when socket() fails, its errno goes to *socket_errno
   (libcurl reports only "couldn't connect", which hides running out of descriptors). */
CURLcode esc_setopt_socket_errno(CURL *handle, int *socket_errno);
/* The CA bundle path libcurl was built with, or NULL. */
const char *esc_default_cainfo(void);
#endif
