#!/usr/bin/env bash
# The demo on the embedded defaults: a sample PKI, the province hub and two
# district gateways on loopback, a document with a Vietnamese subject and a
# PDF sent from UBND huyện Hướng Hóa to UBND huyện Đakrông through the hub,
# verified on arrival, and the statuses flowing back. Every step prints the
# command a user would type. Output lands in demo-out/ (made anew).
# Ports used: 127.0.0.1:9090 (hub), :8080 (Hướng Hóa), :8081 (Đakrông).
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
# get TOKEN URL: prints the curl command a user would type, then runs it.
get() { printf '$ curl -s -H "Authorization: Bearer %s" %s\n' "$1" "$2"; curl -s -H "Authorization: Bearer $1" "$2"; echo; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

for port in 9090 8080 8081; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop what listens there first" >&2
    exit 2
  fi
done

step "1. A sample PKI: root, issuing CA, organisation certificates (SAMPLES, never for production)"
show ../certs-sample/make-sample-pki.sh pki >/dev/null

step "2. Three configurations: the province hub and two districts"
token_hh=demo-token-huong-hoa
token_dk=demo-token-dakrong
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat >hub.xml <<XML
<gateway organ-id="000.00.00.H50" name="UBND tỉnh Quảng Trị" data-dir="var/hub">
  <identity cert="pki/quang-tri.pem" key="pki/quang-tri.key" chain="pki/ca.pem"/>
  <trust anchors="pki/root.pem" crl="pki/crls.pem" revocation="require"/>
  <exchange listen="127.0.0.1:9090">
    <client system-id="huong-hoa" organ-id="000.00.12.H50" secret-file="pki/huong-hoa.secret"/>
    <client system-id="dakrong" organ-id="000.00.13.H50" secret-file="pki/dakrong.secret"/>
  </exchange>
</gateway>
XML
district() { # organ name stem port token
  cat <<XML
<gateway organ-id="$1" name="$2" data-dir="var/$3">
  <identity cert="pki/$3.pem" key="pki/$3.key" chain="pki/ca.pem"/>
  <trust anchors="pki/root.pem" crl="pki/crls.pem" revocation="require"/>
  <api listen="127.0.0.1:$4">
    <client name="qlvb" token-sha256="$(sha "$5")"/>
  </api>
  <adapters>
    <adapter name="province" type="vdxp" url="http://127.0.0.1:9090"
             system-id="$3" secret-file="pki/$3.secret" poll="500ms"/>
    <adapter name="office" type="directory" path="var/$3/office-inbox"/>
  </adapters>
  <routes>
    <route to="000.00.*.H50" via="province"/>
    <inbound via="office"/>
  </routes>
</gateway>
XML
}
district 000.00.12.H50 "UBND huyện Hướng Hóa" huong-hoa 8080 "$token_hh" >huong-hoa.xml
district 000.00.13.H50 "UBND huyện Đakrông" dakrong 8081 "$token_dk" >dakrong.xml
cat huong-hoa.xml
for c in hub.xml huong-hoa.xml dakrong.xml; do show "$bin" config check "$c"; done
show "$bin" routes explain --config huong-hoa.xml --to 000.00.13.H50

step "3. Start the three gateways (logs in demo-out/*.log)"
for c in hub huong-hoa dakrong; do
  printf '$ %s serve --config %s.xml 2>%s.log &\n' "$bin" "$c" "$c"
  "$bin" serve --config "$c.xml" 2>"$c.log" &
  pids+=($!)
done
wait_for() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "demo: $1 did not answer" >&2; exit 1; }
wait_for http://127.0.0.1:8080/healthz
wait_for http://127.0.0.1:8081/healthz
show curl -s http://127.0.0.1:8080/healthz
echo

step "4. Hướng Hóa's office system builds an unsigned package and submits it"
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
printf '%s\n' '%PDF-1.4' '1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj' \
  '2 0 obj <</Type/Pages/Kids[3 0 R]/Count 1>> endobj' \
  '3 0 obj <</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>> endobj' \
  'trailer <</Root 1 0 R>>' '%%EOF' >cong-van-125.pdf
show "$bin" edxml build --meta meta.json --attach cong-van-125.pdf --out package.xml
printf '$ curl -s -X POST -H "Authorization: Bearer %s" -H "Content-Type: application/xml" --data-binary @package.xml http://127.0.0.1:8080/v1/documents\n' "$token_hh"
answer=$(curl -s -X POST -H "Authorization: Bearer $token_hh" -H "Content-Type: application/xml" \
  --data-binary @package.xml http://127.0.0.1:8080/v1/documents)
echo "$answer"
id=$(printf %s "$answer" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || { echo "demo: the document was not accepted" >&2; exit 1; }

step "5. Signed by Hướng Hóa, verified by the hub, fetched and verified by Đakrông; status 01 comes back"
for _ in $(seq 100); do
  curl -s -H "Authorization: Bearer $token_hh" "http://127.0.0.1:8080/v1/documents/$id" | grep -q '"status_code":"01"' && break
  sleep 0.1
done
get "$token_hh" "http://127.0.0.1:8080/v1/documents/$id"
get "$token_dk" http://127.0.0.1:8081/v1/inbox
inbox=$(curl -s -H "Authorization: Bearer $token_dk" http://127.0.0.1:8081/v1/inbox | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
show ls var/dakrong/office-inbox
show "$bin" edxml inspect "var/dakrong/office-inbox/$inbox.xml"

step "6. Đakrông's clerk registers it: status 03 travels back, signed"
printf '$ curl -s -X POST -H "Authorization: Bearer %s" -d '\''{"code": "03", "description": "Đã vào sổ công văn đến"}'\'' http://127.0.0.1:8081/v1/inbox/%s/status\n' "$token_dk" "$inbox"
curl -s -X POST -H "Authorization: Bearer $token_dk" -d '{"code": "03", "description": "Đã vào sổ công văn đến"}' \
  "http://127.0.0.1:8081/v1/inbox/$inbox/status"
for _ in $(seq 100); do
  curl -s -H "Authorization: Bearer $token_hh" "http://127.0.0.1:8080/v1/documents/$id" | grep -q '"status_code":"03"' && break
  sleep 0.1
done
get "$token_hh" "http://127.0.0.1:8080/v1/documents/$id"

step "7. Anyone can re-verify the received package offline; one changed byte is refused precisely"
received="var/dakrong/office-inbox/$inbox.xml"
printf '$ %s verify --trust pki/root.pem --crl pki/crls.pem --in %s | head -1\n' "$bin" "$received"
"$bin" verify --trust pki/root.pem --crl pki/crls.pem --in "$received" >report.txt
head -1 report.txt
printf '$ cp %s tampered.xml && sed -i "s/năm 2026/năm 2027/" tampered.xml\n' "$received"
cp "$received" tampered.xml
sed -i 's/năm 2026/năm 2027/' tampered.xml
printf '$ %s verify --trust pki/root.pem --crl pki/crls.pem --in tampered.xml\n' "$bin"
set +e
"$bin" verify --trust pki/root.pem --crl pki/crls.pem --in tampered.xml >report.txt
rc=$?
set -e
echo "exit code: $rc (1 = judged invalid)"
[ "$rc" -eq 1 ] || { echo "demo: the tampered package was not refused" >&2; exit 1; }

step "8. Stop the gateways (SIGTERM drains in-flight work, exit 0)"
for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p"; echo "gateway $p exited $?"; done
pids=()
step "9. An auditor checks Đakrông's signature log offline, and takes away a proof of one document"
printf '$ %s audit verify --config dakrong.xml | head -6\n' "$bin"
"$bin" audit verify --config dakrong.xml >audit.txt || { cat audit.txt; echo "demo: the signature log does not verify" >&2; exit 1; }
head -6 audit.txt
printf '$ %s audit prove --config dakrong.xml %s --out bundle.json\n' "$bin" "$inbox"
"$bin" audit prove --config dakrong.xml "$inbox" --out bundle.json
printf '$ %s audit check-bundle --trust pki/root.pem bundle.json\n' "$bin"
"$bin" audit check-bundle --trust pki/root.pem bundle.json

step "Done: files and logs are in demo-out/"
