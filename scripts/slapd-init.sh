#!/usr/bin/env bash
# A fresh OpenLDAP configuration for the system tests and the LDAP benchmark (the Swift tests have
# their own, Tests/TestSupport/Slapd.swift): DIR/config, a cn=config with the core, cosine,
# inetorgperson and nis schemas and entra-sync's SCHEMA (packaging/ldap/entra-sync.ldif or its
# installed copy), and an mdb database in DIR/db for dc=example,dc=test (olcDbMaxSize 16 GiB, a
# sparse map; indexes objectClass and entraObjectId eq; the root DN cn=admin,dc=example,dc=test
# with PASSWORD), its suffix entry added. ACCESS: olcAccess lines of the database, in order.
# Large groups: `member` values kept sorted (olcSortVals, in the frontend) and, above 100 values,
# stored in mdb's separate table (olcDbMultival: member 100,10), so that a modify of a big group no
# longer rewrites its whole entry: measured with 1,000 single-member modifies of a 10,000-member
# group, about 4 ms each instead of 9.3 ms (the first load and the incremental at M: no difference within this
# machine's noise). SLAPD_LARGE_GROUPS=0 leaves both out (slapd's defaults), to compare.
#
#   scripts/slapd-init.sh DIR SCHEMA PASSWORD [ACCESS...]
#   then: slapd -F DIR/config -h ldap://127.0.0.1:PORT/
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 DIR SCHEMA PASSWORD [ACCESS...]" >&2; exit 2; }
dir="$1" schema="$2" password="$3"
shift 3
mkdir -p "$dir/config" "$dir/db"
frontend="" multival=""
if [ "${SLAPD_LARGE_GROUPS:-1}" = 1 ]; then
    frontend="dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSortVals: member
"
    multival="olcDbMultival: member 100,10"
fi
{
    cat <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file://$schema

$frontend
dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $dir/db
olcSuffix: dc=example,dc=test
olcRootDN: cn=admin,dc=example,dc=test
olcRootPW: $password
olcDbIndex: objectClass eq
olcDbIndex: entraObjectId eq
olcDbMaxSize: 17179869184
LDIF
    if [ -n "$multival" ]; then echo "$multival"; fi
    for access in "$@"; do echo "olcAccess: $access"; done
} >"$dir/config.ldif"
slapadd -q -n0 -F "$dir/config" -l "$dir/config.ldif"
printf 'dn: dc=example,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n' | slapadd -q -n1 -F "$dir/config"
