#!/usr/bin/env bash
# Generates a development PKI for mutual TLS, all of it git-ignored under certs/out/:
#   ca.pem ca.key ca.der                     dev CA (RSA-2048, 10 years)
#   broker.pem broker.key                    broker certificate, SAN localhost and 127.0.0.1
#   devices/<thing>/device.pem device.key    device certificate (RSA-2048, CN = thing name), PEM for Node
#   devices/<thing>/device.der device-key.der ca.der  DER and PKCS#8 DER: a device's Moddable resources
#   devices/<thing>/ota-key.der             the firmware's update key (a copy of ota/ota-key.der)
#   moddable/                                the first thing's DER files and the update key, which manifest.json embeds
#   ota/signing-key.pem                      firmware signing key (ECDSA P-256, PKCS#8 PEM): npm run ota:job signs with it
#   ota/ota-key.der ota/ota-key.pem          its public key, DER SubjectPublicKeyInfo (91 bytes, what
#                                            src/ota/p256.ts parsePublicKey takes; the firmware embeds it) and PEM
# Usage: certs/generate.sh [--out DIR] [--no-stage] [thing ...]   (default thing: press-7)
#   --no-stage leaves moddable/ as it is (tests add their own identities this way).
# Existing files are kept, so a CA and the certificates it signed stay consistent; delete DIR to start over.
set -euo pipefail

out="$(cd "$(dirname "$0")" && pwd)/out"
stage=1
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --no-stage) stage=0; shift ;;
    *) echo "certs/generate.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
things=("$@")
[[ ${#things[@]} -gt 0 ]] || things=(press-7)
command -v openssl >/dev/null || { echo "certs/generate.sh: openssl is required (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$out/devices" "$out/moddable"
umask 077
cd "$out"

if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -sha256 \
    -subj "/O=iiot-node dev/CN=iiot-node dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  echo "certs: created dev CA in $out"
fi
openssl x509 -in ca.pem -outform DER -out ca.der

sign() { # name subject extensions-file
  local log
  if ! log=$(openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>&1 &&
             openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 825 -sha256 -extfile "$3" 2>&1); then
    rm -f "$1.key" "$1.csr" "$1.pem" "$3"
    echo "certs/generate.sh: openssl failed for $2:" >&2
    echo "$log" >&2
    exit 1
  fi
  rm -f "$1.csr"
}

if [[ ! -f broker.pem ]]; then
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" > broker.ext
  sign broker "/O=iiot-node dev/CN=localhost" broker.ext
  rm -f broker.ext
  echo "certs: created broker certificate (localhost, 127.0.0.1)"
fi

# The firmware signing key: a device accepts only images signed by it. Not the CA: a leaked device
# or broker credential must not be able to sign firmware.
mkdir -p ota
if [[ ! -f ota/signing-key.pem ]]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ota/signing-key.pem 2>/dev/null
  echo "certs: created firmware signing key (ota/signing-key.pem)"
fi
openssl pkey -in ota/signing-key.pem -pubout -outform DER -out ota/ota-key.der 2>/dev/null
openssl pkey -in ota/signing-key.pem -pubout -out ota/ota-key.pem 2>/dev/null

for thing in "${things[@]}"; do
  # AWS IoT thing-name characters; 64 at most because the name is the certificate's CN (X.509 ub-common-name).
  [[ "$thing" =~ ^[A-Za-z0-9:_-]{1,64}$ ]] || { echo "certs/generate.sh: invalid thing name '$thing' (1..64 of A-Z a-z 0-9 : _ -)" >&2; exit 1; }
  dir="devices/$thing"
  mkdir -p "$dir"
  if [[ ! -f "$dir/device.pem" ]]; then
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" > "$dir/device.ext"
    sign "$dir/device" "/O=iiot-node dev/CN=$thing" "$dir/device.ext"
    rm -f "$dir/device.ext"
    echo "certs: created device certificate for $thing"
  fi
  openssl x509 -in "$dir/device.pem" -outform DER -out "$dir/device.der"
  openssl pkcs8 -topk8 -nocrypt -in "$dir/device.key" -outform DER -out "$dir/device-key.der"
  cp ca.der "$dir/ca.der"
  # The update key is built into every device's firmware (a Moddable resource beside its identity).
  cp ota/ota-key.der "$dir/ota-key.der"
done

[[ $stage == 1 ]] || exit 0
cp "devices/${things[0]}/ca.der" "devices/${things[0]}/device.der" "devices/${things[0]}/device-key.der" "devices/${things[0]}/ota-key.der" moddable/
echo "${things[0]}" > moddable/THING
