#!/usr/bin/env bash
# Makes a complete SAMPLE public-key infrastructure for edocgw's demo and
# tests, with nothing but the openssl command line.
#
#   certs-sample/make-sample-pki.sh OUT_DIR
#
# EVERYTHING MADE HERE IS A SAMPLE. The private keys sit unencrypted next to
# the certificates and the CA names say "SAMPLE". Never use them, or a copy
# of this layout, for production documents.
#
# What OUT_DIR receives (all PEM unless said otherwise):
#   root.pem                 "Sample Government Root CA" (trust anchor)
#   ca.pem                   "Sample Government Issuing CA G2" (intermediate)
#   chain.pem                ca.pem + root.pem
#   ca.crl / root.crl        CRLs of the issuing CA and of the root
#   crls.pem                 both CRLs in one file
#   quang-tri.{pem,key}      UBND tỉnh Quảng Trị (province hub) 000.00.00.H50
#   huong-hoa.{pem,key}      UBND huyện Hướng Hóa                000.00.12.H50
#   dakrong.{pem,key}        UBND huyện Đakrông                  000.00.13.H50
#   huong-hoa-ec.{pem,key}   Hướng Hóa again, EC P-256 key
#   expired.{pem,key}        valid 2020-01-01 .. 2021-01-01
#   not-yet-valid.{pem,key}  valid from 2099-01-01
#   revoked.{pem,key}        revoked in ca.crl
#   no-sign-usage.{pem,key}  keyUsage keyEncipherment only
#   personal.{pem,key}       a clerk's personal certificate, UID=CMND:197000123 (no agency
#                            code: bound to an agency only by an organ map)
#   personal-mst.{pem,key}   a personal certificate with UID=MST:3200123456
#   unrelated-root.pem       "Unrelated Sample Root CA", not trusted
#   unrelated.{pem,key}      signed by the unrelated root
#   ocsp.{pem,key}           OCSP responder of the issuing CA (extendedKeyUsage OCSPSigning)
#   late-revoked.{pem,key}   revoked AFTER ca.crl was made: only OCSP knows
#   tsa.{pem,key}            "Sample Government Time-Stamping Authority", issued by the
#                            issuing CA (extendedKeyUsage critical timeStamping): RFC 3161
#                            tokens in signed PDFs
#   rogue-root.{pem,key}     a forged root: EXACTLY the subject of root.pem, another key
#   rogue-ca.{pem,key}       a forged issuing CA under rogue-root: the subject (and serial)
#                            of ca.pem, another key
#   rogue-huong-hoa.{pem,key} the subject and serial of huong-hoa.pem, issued by rogue-ca:
#                            a forged chain that differs from the real one only in its keys
#   issuing-index.txt        the issuing CA's database, for `openssl ocsp -index`:
#     openssl ocsp -index issuing-index.txt -CA ca.pem -rsigner ocsp.pem \
#                  -rkey ocsp.key -port 2560
#   Organisation certificates name http://127.0.0.1:2560 as their OCSP
#   responder (authorityInfoAccess).
#   tls-localhost.{pem,key}  TLS server/client certificate for localhost and 127.0.0.1
#   tls-localhost-chain.pem  tls-localhost.pem + ca.pem (for tls-cert)
#   huong-hoa.p12            Hướng Hóa key + cert + chain, PKCS#12,
#                            passphrase in huong-hoa.p12.pass
#   *.secret                 random shared secrets for the exchange API
#   README.txt               this list and the warning
# Organisation certificates carry the agency code (mã định danh) in the
# subject attribute UID, which edocgw reads to bind a signer to From/OrganId.
set -euo pipefail

out=${1:?usage: make-sample-pki.sh OUT_DIR}
mkdir -p "$out"
cd "$out"
work=.ca
rm -rf "$work"
mkdir -p "$work"

subj_base="/C=VN/OU=SAMPLE - NOT FOR PRODUCTION"

# ca_config NAME: an `openssl ca` configuration with its own database.
ca_config() {
  local name=$1
  mkdir -p "$work/$name/new"
  : >"$work/$name/index.txt"
  echo 1000 >"$work/$name/serial"
  echo 1000 >"$work/$name/crlnumber"
  cat >"$work/$name/ca.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = $work/$name
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = any_policy
unique_subject = no
copy_extensions = none
utf8 = yes
string_mask = utf8only
[ any_policy ]
countryName = optional
stateOrProvinceName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
UID = optional
[ v3_root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_ca ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ org_sign ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = OCSP;URI:http://127.0.0.1:2560
[ ocsp_sign ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ tsa_sign ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ org_nosign ]
basicConstraints = critical, CA:false
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ tls_server ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
}

# The CAs are valid from 2019 (like long-lived government CAs), so that a
# certificate that expired in 2021 can still be checked "as of" 2020.
ca_dates=(-startdate 20190101000000Z -enddate 20451231000000Z)

# self_signed_root CA_NAME FILE_STEM CN
self_signed_root() {
  local caname=$1 stem=$2 cn=$3
  openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$stem.key"
  openssl req -new -utf8 -key "$stem.key" -out "$work/$stem.csr" \
    -subj "$subj_base/O=Sample Government/CN=$cn"
  openssl ca -batch -notext -selfsign -config "$work/$caname/ca.cnf" -keyfile "$stem.key" \
    -extensions v3_root "${ca_dates[@]}" -in "$work/$stem.csr" -out "$stem.pem" \
    2>"$work/$stem.log" || { cat "$work/$stem.log" >&2; exit 1; }
}

# issue CA_NAME CA_STEM STEM SUBJECT EXTENSIONS KEYALG [startdate enddate]
issue() {
  local caname=$1 castem=$2 stem=$3 subject=$4 ext=$5 alg=$6
  local start=${7:-} end=${8:-}
  if [ "$alg" = ec ]; then
    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$stem.key"
  else
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$stem.key"
  fi
  openssl req -new -utf8 -key "$stem.key" -out "$work/$stem.csr" -subj "$subject"
  local dates=()
  [ -n "$start" ] && dates=(-startdate "$start" -enddate "$end")
  openssl ca -batch -notext -config "$work/$caname/ca.cnf" -cert "$castem.pem" \
    -keyfile "$castem.key" -extensions "$ext" -in "$work/$stem.csr" -out "$stem.pem" \
    "${dates[@]}" 2>"$work/$stem.log" || { cat "$work/$stem.log" >&2; exit 1; }
}

org() { # org ORGAN_ID PROVINCE ORG_NAME
  echo "$subj_base/ST=$2/O=$3/CN=$3/UID=$1"
}

# Root and issuing CA.
ca_config root
ca_config issuing
ca_config unrelated
self_signed_root root root "Sample Government Root CA"
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out ca.key
openssl req -new -utf8 -key ca.key -out "$work/ca.csr" \
  -subj "$subj_base/O=Sample Government/CN=Sample Government Issuing CA G2"
openssl ca -batch -notext -config "$work/root/ca.cnf" -cert root.pem -keyfile root.key \
  -extensions v3_ca "${ca_dates[@]}" -in "$work/ca.csr" -out ca.pem 2>"$work/ca.log" ||
  { cat "$work/ca.log" >&2; exit 1; }

# Organisation signing certificates.
issue issuing ca quang-tri "$(org 000.00.00.H50 'Quảng Trị' 'UBND tỉnh Quảng Trị')" org_sign rsa
issue issuing ca huong-hoa "$(org 000.00.12.H50 'Quảng Trị' 'UBND huyện Hướng Hóa')" org_sign rsa
issue issuing ca dakrong "$(org 000.00.13.H50 'Quảng Trị' 'UBND huyện Đakrông')" org_sign rsa
issue issuing ca huong-hoa-ec "$(org 000.00.12.H50 'Quảng Trị' 'UBND huyện Hướng Hóa')" org_sign ec

# Personal certificates, as much real traffic is signed with: the UID is an
# identity card or tax number, not an agency code.
issue issuing ca personal \
  "$subj_base/ST=Quảng Trị/O=UBND huyện Hướng Hóa/CN=Nguyễn Văn An/UID=CMND:197000123" org_sign rsa
issue issuing ca personal-mst \
  "$subj_base/ST=Quảng Trị/O=UBND huyện Đakrông/CN=Trần Thị Bình/UID=MST:3200123456" org_sign rsa

# The faulty ones, each wrong in exactly one way.
issue issuing ca expired "$(org 000.00.12.H50 'Quảng Trị' 'Expired sample')" org_sign rsa \
  20200101000000Z 20210101000000Z
issue issuing ca not-yet-valid "$(org 000.00.12.H50 'Quảng Trị' 'Not yet valid sample')" \
  org_sign rsa 20990101000000Z 20991231000000Z
issue issuing ca revoked "$(org 000.00.12.H50 'Quảng Trị' 'Revoked sample')" org_sign rsa
issue issuing ca no-sign-usage "$(org 000.00.12.H50 'Quảng Trị' 'No signing usage sample')" \
  org_nosign rsa
openssl ca -batch -config "$work/issuing/ca.cnf" -cert ca.pem -keyfile ca.key \
  -revoke revoked.pem -crl_reason keyCompromise 2>"$work/revoke.log" ||
  { cat "$work/revoke.log" >&2; exit 1; }

self_signed_root unrelated unrelated-root "Unrelated Sample Root CA"
issue unrelated unrelated-root unrelated "$(org 000.00.12.H50 'Quảng Trị' 'UBND huyện Hướng Hóa')" \
  org_sign rsa

# Revocation lists, one per CA of the chain, and both in one file.
openssl ca -batch -gencrl -config "$work/issuing/ca.cnf" -cert ca.pem -keyfile ca.key \
  -crlexts crl_ext -out ca.crl 2>/dev/null
openssl ca -batch -gencrl -config "$work/root/ca.cnf" -cert root.pem -keyfile root.key \
  -crlexts crl_ext -out root.crl 2>/dev/null
cat ca.crl root.crl >crls.pem

# OCSP: a responder certificate, and a certificate revoked after the CRL above.
issue issuing ca ocsp "$subj_base/O=Sample Government/CN=Sample Issuing CA G2 OCSP responder" \
  ocsp_sign rsa
issue issuing ca late-revoked "$(org 000.00.12.H50 'Quảng Trị' 'Revoked after the CRL sample')" \
  org_sign rsa
openssl ca -batch -config "$work/issuing/ca.cnf" -cert ca.pem -keyfile ca.key \
  -revoke late-revoked.pem -crl_reason keyCompromise 2>"$work/revoke2.log" ||
  { cat "$work/revoke2.log" >&2; exit 1; }
# The time-stamping authority of signed PDFs (signature and document timestamps).
# Valid from 2019, like the CAs, so that a timestamp of 2020 can prove a
# signature made while expired.pem was still valid.
issue issuing ca tsa "$subj_base/O=Sample Government/CN=Sample Government Time-Stamping Authority" \
  tsa_sign rsa 20190101000000Z 20451231000000Z

# A forged chain: the same names (and serials) as root.pem, ca.pem and
# huong-hoa.pem, other keys. Only a check of keys, not of names, tells it apart.
ca_config rogue-root
ca_config rogue-issuing
self_signed_root rogue-root rogue-root "Sample Government Root CA"
openssl x509 -noout -serial -in ca.pem | cut -d= -f2 >"$work/rogue-root/serial"
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out rogue-ca.key
openssl req -new -utf8 -key rogue-ca.key -out "$work/rogue-ca.csr" \
  -subj "$subj_base/O=Sample Government/CN=Sample Government Issuing CA G2"
openssl ca -batch -notext -config "$work/rogue-root/ca.cnf" -cert rogue-root.pem \
  -keyfile rogue-root.key -extensions v3_ca "${ca_dates[@]}" -in "$work/rogue-ca.csr" \
  -out rogue-ca.pem 2>"$work/rogue-ca.log" || { cat "$work/rogue-ca.log" >&2; exit 1; }
openssl x509 -noout -serial -in huong-hoa.pem | cut -d= -f2 >"$work/rogue-issuing/serial"
issue rogue-issuing rogue-ca rogue-huong-hoa \
  "$(org 000.00.12.H50 'Quảng Trị' 'UBND huyện Hướng Hóa')" org_sign rsa

issue issuing ca tls-localhost "$subj_base/O=Sample Government/CN=localhost" tls_server rsa
cat tls-localhost.pem ca.pem >tls-localhost-chain.pem
cp "$work/issuing/index.txt" issuing-index.txt
echo "unique_subject = no" >issuing-index.txt.attr
cat ca.pem root.pem >chain.pem

# PKCS#12 bundle with a passphrase kept in a file.
openssl rand -hex 16 >huong-hoa.p12.pass
openssl pkcs12 -export -inkey huong-hoa.key -in huong-hoa.pem -certfile ca.pem \
  -name "UBND huyen Huong Hoa (SAMPLE)" -passout file:huong-hoa.p12.pass -out huong-hoa.p12

for who in quang-tri huong-hoa dakrong; do openssl rand -hex 32 >"$who.secret"; done
chmod 600 ./*.key ./*.secret huong-hoa.p12.pass

cat >README.txt <<'EOF'
SAMPLE PKI MADE BY edocgw certs-sample/make-sample-pki.sh
NOT FOR PRODUCTION: every private key here is unencrypted and public.
See the header of make-sample-pki.sh for what each file is.
EOF
rm -rf "$work"
echo "sample PKI written to $(pwd)"
