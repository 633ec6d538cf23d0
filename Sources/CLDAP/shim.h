#ifndef ENTRA_CLDAP_SHIM_H
#define ENTRA_CLDAP_SHIM_H
// OpenLDAP's client library: TLS, StartTLS, SASL and paged results come from it; entra-sync
// writes no LDAP codec. None of the calls used is variadic, so there is no shim library.
#include <lber.h>
#include <ldap.h>
#endif
