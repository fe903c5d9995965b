#!/usr/bin/env bash
# The demo on the embedded defaults: a sample PKI, a package with a
# Vietnamese subject and a PDF, signed as UBND huyện Hướng Hóa, verified,
# then one byte changed and the precise refusal shown. Every step prints the
# command a user would type. Output lands in demo-out/ (made anew).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
bin=$PWD/build/gateway/edocgw
out=$PWD/demo-out
rm -rf "$out"
mkdir -p "$out"
cd "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$1"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. A sample PKI (root, issuing CA, organisation certificates): SAMPLES, never for production"
show ../certs-sample/make-sample-pki.sh pki >/dev/null
ls pki | tr '\n' ' '
echo

step "2. Metadata of an outgoing document and its PDF"
cat >meta.json <<'JSON'
{
  "from": {"organ_id": "000.00.12.H50", "organ_name": "UBND huyện Hướng Hóa",
           "organ_add": "Thị trấn Khe Sanh, huyện Hướng Hóa, tỉnh Quảng Trị"},
  "to": [{"organ_id": "000.00.13.H50", "organ_name": "UBND huyện Đakrông"}],
  "code": {"number": "125", "notation": "UBND-VP"},
  "promulgation": {"place": "Hướng Hóa"},
  "document_type": {"type": "1", "name": "Công văn"},
  "subject": "Về việc triển khai kế hoạch phòng, chống thiên tai năm 2026",
  "content": "Kính gửi: Ủy ban nhân dân huyện Đakrông.",
  "signer": {"competence": "TM. UBND", "position": "Chủ tịch", "full_name": "Nguyễn Văn Ánh"}
}
JSON
cat meta.json
# A minimal one-page PDF.
printf '%s\n' '%PDF-1.4' '1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj' \
  '2 0 obj <</Type/Pages/Kids[3 0 R]/Count 1>> endobj' \
  '3 0 obj <</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>> endobj' \
  'trailer <</Root 1 0 R>>' '%%EOF' >cong-van-125.pdf

step "3. Build the edXML package"
show "$bin" edxml build --meta meta.json --attach cong-van-125.pdf --out package.xml
show "$bin" edxml inspect package.xml

step "4. Sign it as UBND huyện Hướng Hóa (RSA-SHA256, exclusive c14n, chain in X509Data)"
show "$bin" sign --cert pki/huong-hoa.pem --key pki/huong-hoa.key --chain pki/ca.pem \
  --in package.xml --out signed.xml

step "5. Verify it as a recipient would: chain to the root, CRLs, sender binding"
show "$bin" verify --trust pki/root.pem --crl pki/crls.pem --in signed.xml

step "6. Change one byte of the subject (2026 -> 2027) and verify again"
sed 's/năm 2026/năm 2027/' signed.xml >tampered.xml
cmp signed.xml tampered.xml || true
set +e
show "$bin" verify --trust pki/root.pem --crl pki/crls.pem --in tampered.xml
rc=$?
set -e
echo "exit code: $rc (1 = judged invalid)"
[ "$rc" -eq 1 ] || { echo "demo: the tampered package was not refused" >&2; exit 1; }

step "Done: files are in demo-out/"
