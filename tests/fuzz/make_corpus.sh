#!/usr/bin/env bash
# Makes the seed corpora of the fuzz targets, tests/fuzz/corpus/<target>/,
# from real fixtures in the repo (tests/fixtures/*, the VNPT SDK's public
# samples copied in with their big base64 blobs trimmed) and from a real
# gateway's data-dir: it starts `edocgw serve` on loopback with the sample
# PKI, submits two documents, signs a checkpoint, stops it, and keeps the
# log's records and checkpoint and an `audit prove` bundle.
#
#   tests/fuzz/make_corpus.sh EDOCGW_BIN PKI_DIR [VNPT_SAMPLES_DIR]
#
# The output is committed; run this again only when a format changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1")
pki=$(realpath "$2")
samples=${3:-/work/shared/samples/vnpt-sdk}
out=tests/fuzz/corpus
work=$(mktemp -d)
gw_pid=
trap '[ -z "$gw_pid" ] || kill "$gw_pid" 2>/dev/null; rm -rf "$work"' EXIT

# --- a real gateway's data-dir ---------------------------------------------
token=fuzz-seed-token
token_sha=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/gw"
cat > "$work/gw/gateway.xml" <<XML
<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert="$pki/huong-hoa.pem" key="$pki/huong-hoa.key" chain="$pki/ca.pem"/>
  <trust anchors="$pki/root.pem"/>
  <api listen="127.0.0.1:$port">
    <client name="qlvb" token-sha256="$token_sha"/>
  </api>
  <adapters>
    <adapter name="out" type="directory" path="var/out"/>
  </adapters>
  <routes>
    <route to="*" via="out"/>
  </routes>
</gateway>
XML
"$bin" serve --config "$work/gw/gateway.xml" 2>"$work/gw.log" &
gw_pid=$!
for _ in $(seq 100); do
  grep -q '"gateway started"' "$work/gw.log" 2>/dev/null && break
  sleep 0.1
done
meta='{"from":{"organ_id":"000.00.12.H50","organ_name":"UBND huyện Hướng Hóa"},
 "to":[{"organ_id":"000.00.13.H50","organ_name":"UBND huyện Đakrông"}],
 "code":{"number":"NUMBER","notation":"UBND-VP"},
 "promulgation":{"place":"Hướng Hóa","date":"2026/11/28"},
 "document_type":{"type":"1","name":"Công văn"},
 "subject":"V/v phối hợp kiểm tra","content":"Kính gửi: UBND huyện Đakrông.",
 "signer":{"competence":"TM. UBND","position":"Chủ tịch","full_name":"Nguyễn Văn Ánh"},
 "due_date":"2026/12/15","attachments":[{"name":"cong-van.pdf","description":"Công văn"}]}'
printf '%%PDF-1.4 sample\n' > "$work/cong-van.pdf"
for n in 701 702; do
  printf %s "${meta/NUMBER/$n}" > "$work/meta-$n.json"
  curl -sf -H "Authorization: Bearer $token" -F "meta=@$work/meta-$n.json;type=application/json" \
    -F "file=@$work/cong-van.pdf;type=application/pdf" "http://127.0.0.1:$port/v1/documents" >/dev/null
done
curl -sf -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/audit/checkpoint" \
  > "$work/checkpoint.note"
kill -TERM "$gw_pid"
wait "$gw_pid" || true
gw_pid=
data=$work/gw/var
"$bin" audit prove --data-dir "$data" "000.00.12.H50,2026/11/28,701/UBND-VP" --out "$work/bundle.json"

rm -rf "$out"
mkdir -p "$out"/{edxml_package,package_verifier,multipart,gateway_config,signature_log,checkpoint,base64,vdxp_auth,package_builder,auditor,check_bundle,local_api}

python3 - "$out" "$samples" "$work" "$data" <<'PY'
import base64, glob, hashlib, json, os, re, sys
out, samples, work, data = sys.argv[1:5]

def put(target, name, data_bytes):
    if isinstance(data_bytes, str):
        data_bytes = data_bytes.encode()
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data_bytes)

def local_api_seeds(put, document):
    doc_id = b"/v1/documents/3f0a23a3-aad3-4c3e-894a-53c7896524a2"
    inbox_id = b"/v1/inbox/c96081b1-0d01-45a5-b396-5e9bfde78093"
    js = lambda o: json.dumps(o, ensure_ascii=False).encode()
    put("local_api", "post-document-xml", b"/v1/documents\napplication/xml\n" + document)
    put("local_api", "followup-revocation", doc_id + b"/followup\napplication/json\n" +
        js({"type": "revocation", "reason": "Thu hồi do nhầm số văn bản"}))
    put("local_api", "followup-update", doc_id + b"/followup\napplication/json\n" +
        js({"type": "update", "reason": "Bổ sung nơi nhận", "package": document.decode(),
            "receivers": [{"organ_id": "000.00.14.H50", "change": "added"},
                          {"organ_id": "000.00.13.H50", "change": "removed"}]}))
    put("local_api", "document-status-13", doc_id + b"/status\napplication/json\n" +
        js({"code": "13", "description": "Đề nghị thu hồi", "recipients": ["000.00.13.H50"]}))
    put("local_api", "inbox-status-03", inbox_id + b"/status\napplication/json\n" +
        js({"code": "03", "description": "Đã vào sổ"}))
    put("local_api", "inbox-page", b"/v1/inbox?since=c96081b1-0d01-45a5-b396-5e9bfde78093&limit=10\n\n")

def trim(xml):
    # Base64 blobs of hundreds of KB teach the fuzzer nothing more than a short one.
    return re.sub(rb"[A-Za-z0-9+/=\r\n]{512,}", base64.b64encode(b"%PDF-1.4 trimmed"), xml)

packages = {}
for path in sorted(glob.glob("tests/fixtures/*/*.edxml")) + sorted(glob.glob(samples + "/*.edxml")):
    name = os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path)
    packages[name] = trim(open(path, "rb").read())
for name in sorted(os.listdir(os.path.join(data, "packages"))) if os.path.isdir(os.path.join(data, "packages")) else []:
    p = os.path.join(data, "packages", name)
    if os.path.isfile(p):
        packages["signed-" + name] = open(p, "rb").read()
for name, body in packages.items():
    put("edxml_package", name, body)
    put("package_verifier", name, body)

# Exchange captures: the header block (request line included, body dropped).
for path in sorted(glob.glob("tests/fixtures/vdxp/*.http")):
    raw = open(path, "rb").read()
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    put("vdxp_auth", os.path.basename(path), head)

# Metadata: the gateway's own, a status, and each real package's text.
meta = json.load(open(os.path.join(work, "meta-701.json")))
put("package_builder", "document.json", json.dumps(meta, ensure_ascii=False, indent=1))
full = dict(meta)
full.update({"to_places": ["Như trên", "Lưu: VT"],
             "other_info": {"priority": 1, "sphere_of_promulgation": "Toàn quốc", "page_amount": 2,
                            "appendixes": ["Phụ lục I"]},
             "response_for": [{"organ_id": "000.00.13.H50", "code": "12/UBND", "promulgation_date": "2026/11/01",
                               "document_id": "000.00.13.H50,2026/11/01,12/UBND"}],
             "steering_type": 1, "timestamp": "2026-11-28T09:00:00+07:00",
             "trace_list": {"id": "1", "version": "1.0"},
             "business": {"doc_type": 3, "replacements": [{"document_id": "000.00.12.H50,2026/11/20,100/UBND-VP",
                                                            "organ_ids": ["000.00.13.H50"]}],
                          "staff": {"department": "Văn phòng", "staff": "Lê Văn C", "email": "c@example.vn"}}})
put("package_builder", "document-full.json", json.dumps(full, ensure_ascii=False, indent=1))
status = {"from": {"organ_id": "000.00.13.H50", "organ_name": "UBND huyện Đakrông"},
          "response_for": {"organ_id": "000.00.12.H50", "code": "701/UBND-VP", "promulgation_date": "2026/11/28",
                           "document_id": "000.00.12.H50,2026/11/28,701/UBND-VP"},
          "status_code": "03", "description": "Đã tiếp nhận", "timestamp": "2026/11/28 10:00:00",
          "staff": {"department": "Văn thư", "staff": "Trần Thị B"}}
put("package_builder", "status.json", json.dumps(status, ensure_ascii=False, indent=1))

# Multipart bodies as curl sends them to POST /v1/documents.
def form(boundary, parts):
    body = b""
    for headers, content in parts:
        body += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"
b = b"------------------------a1b2c3d4e5f60718"
meta_bytes = json.dumps(meta, ensure_ascii=False).encode()
body = form(b, [(b'Content-Disposition: form-data; name="meta"; filename="meta.json"\r\nContent-Type: application/json', meta_bytes),
                (b'Content-Disposition: form-data; name="file"; filename="cong-van.pdf"\r\nContent-Type: application/pdf', b"%PDF-1.4 sample\n")])
ct = b"multipart/form-data; boundary=" + b
put("multipart", "curl-document", ct + b"\n" + body)
body2 = form(b"XyZ", [(b'Content-Disposition: form-data; name="meta"', meta_bytes),
                      ("Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''c%C3%B4ng-v%C4%83n.pdf".encode(), b"bytes")])
put("multipart", "value-and-rfc5987", b'multipart/form-data; boundary="XyZ"\n' + body2)
put("local_api", "post-document", b"/v1/documents\n" + ct + b"\n" + body)
put("local_api", "post-document-rfc5987", b"/v1/documents?x=1\n" + b'multipart/form-data; boundary="XyZ"\n' + body2)
# The local API's other bodies: a package as XML, the JSON of a follow-up
# (an update carrying a new package and a recipient), statuses, a listing.
local_api_seeds(put, packages["edxml-captured-document.edxml"])

# gateway.xml: the harness's folder holds PKI/ (the sample PKI) and organs.txt.
good = open(os.path.join(work, "gw", "gateway.xml")).read()
good = re.sub(r'"[^"]*/(root|ca|huong-hoa)\.(pem|key)"', r'"PKI/\1.\2"', good)
put("gateway_config", "minimal.xml", good)
put("gateway_config", "full.xml", """<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert="PKI/huong-hoa.pem" key="PKI/huong-hoa.key" chain="PKI/ca.pem"/>
  <trust anchors="PKI/root.pem" crl="PKI/crls.pem" revocation="require"/>
  <api listen="127.0.0.1:8080" max-body="64MB">
    <client name="qlvb" token-sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"/>
  </api>
  <exchange listen="127.0.0.1:9090">
    <client system-id="dakrong" organ-id="000.00.13.H50" secret-file="PKI/dakrong.secret"/>
  </exchange>
  <adapters>
    <adapter name="province" type="vdxp" url="http://127.0.0.1:9090" system-id="huong-hoa" secret-file="PKI/huong-hoa.secret" poll="2s"/>
    <adapter name="office" type="directory" path="var/inbox"/>
  </adapters>
  <accept>
    <rule from="000.00.13.H50" via="province" unsigned="accept" sha1="warn" c14n="inclusive-warn" organ-map="organs.txt"/>
  </accept>
  <routes>
    <route to="000.00.*.H50" via="province"/>
    <route to="*" via="province"/>
    <inbound via="office"/>
  </routes>
</gateway>
""")

# The signature log: its records file, the checkpoint, and the auditor's form.
records = open(os.path.join(data, "signature-log", "records"), "rb").read()
put("signature_log", "records", records)
payloads, pos = [], 0
while pos + 6 <= len(records):
    length = int.from_bytes(records[pos + 2:pos + 6], "big")
    leaf = records[pos + 6:pos + 6 + length]
    payloads.append(leaf[40:])
    pos += 6 + length + 32
put("signature_log", "torn", records[:len(records) - 7])
note = open(os.path.join(work, "checkpoint.note"), "rb").read()
put("checkpoint", "gateway.note", note)
for f in sorted(glob.glob(os.path.join(data, "signature-log", "checkpoints", "*.note"))):
    put("checkpoint", os.path.basename(f), open(f, "rb").read())
notes = b"\x1e".join(open(f, "rb").read() for f in sorted(glob.glob(os.path.join(data, "signature-log", "checkpoints", "*.note"))))
put("auditor", "gateway-log", b"\x1e".join(payloads) + b"\x1d" + notes)
put("auditor", "records-only", b"\x1e".join(payloads))
# The first signing's package as packages/fuzz.edxml (the harness's name for part 3).
first = json.loads(payloads[2])
body = open(os.path.join(data, first["package"]), "rb").read()
payloads[2] = payloads[2].replace(first["package"].encode(), b"packages/fuzz.edxml")
put("auditor", "with-package", b"\x1e".join(payloads) + b"\x1d" + b"\x1d" + body)
put("check_bundle", "bundle.json", open(os.path.join(work, "bundle.json"), "rb").read())

# base64 as the packages carry it, with and without line breaks, and edge cases.
for i, text in enumerate([b"", b"QQ==", b"QUI=", b"QUJD", b"SGVsbG8gd29ybGQ=\r\n",
                          base64.encodebytes(b"%PDF-1.4 " + bytes(range(256))),
                          base64.b64encode(hashlib.sha256(b"x").digest())]):
    put("base64", "seed-%d" % i, text)
PY
echo "corpus: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)"
