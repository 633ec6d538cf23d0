#!/usr/bin/env bash
# A fresh OpenLDAP configuration for the system tests and the LDAP benchmark (the Swift tests have
# their own, Tests/TestSupport/Slapd.swift): DIR/config, a cn=config with the core, cosine,
# inetorgperson and nis schemas and entra-sync's SCHEMA (packaging/ldap/entra-sync.ldif or its
# installed copy), and an mdb database in DIR/db for dc=example,dc=test (olcDbMaxSize 16 GiB, a
# sparse map; indexes objectClass and entraObjectId eq; the root DN cn=admin,dc=example,dc=test
# with PASSWORD), its suffix entry added. ACCESS: olcAccess lines of the database, in order.
#
#   scripts/slapd-init.sh DIR SCHEMA PASSWORD [ACCESS...]
#   then: slapd -F DIR/config -h ldap://127.0.0.1:PORT/
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 DIR SCHEMA PASSWORD [ACCESS...]" >&2; exit 2; }
dir="$1" schema="$2" password="$3"
shift 3
mkdir -p "$dir/config" "$dir/db"
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
    for access in "$@"; do echo "olcAccess: $access"; done
} >"$dir/config.ldif"
slapadd -q -n0 -F "$dir/config" -l "$dir/config.ldif"
printf 'dn: dc=example,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n' | slapadd -q -n1 -F "$dir/config"
