// A local stand-in for AWS IoT's fleet provisioning MQTT API on the embedded broker (Aedes):
// CreateKeysAndCertificate ($aws/certificates/create/json: a new RSA-2048 key in PKCS#1 PEM, as AWS
// returns it), CreateCertificateFromCsr ($aws/certificates/create-from-csr/json) and RegisterThing
// ($aws/provisioning-templates/<template>/provision/json), answering on /accepted and /rejected. The
// certificates are signed by a real CA made by openssl in a temporary folder (certs/generate.sh
// --out). Like AWS, the broker then admits a certificate only once RegisterThing activated it, the
// claim certificate only with a `claim-` client id, and an activated one only as its thing.

import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import type { Aedes } from "aedes";

export interface ProvisioningDouble {
  /** Certificates issued (fingerprint -> state). */
  issued: Map<string, { token: string; registered: boolean; thing?: string }>;
  /** Every connection attempt: which certificate (claim or a fingerprint), client id, admitted. */
  connections: { who: string; clientId: string; admitted: boolean }[];
  rejectNextCreate: number;
  close(): void;
}

const CREATE = "$aws/certificates/create/json";
const CREATE_FROM_CSR = "$aws/certificates/create-from-csr/json";

export function fingerprint(pemOrDer: string | Buffer): string {
  return new X509Certificate(pemOrDer).fingerprint256;
}

export function attachProvisioningDouble(aedes: Aedes, options: { pkiDir: string; claimCertPem: string; templateName: string; things: string[] }): ProvisioningDouble {
  const work = mkdtempSync(join(tmpdir(), "iiot-provisioning-double-"));
  const claim = fingerprint(options.claimCertPem);
  const provision = `$aws/provisioning-templates/${options.templateName}/provision/json`;
  let serial = 0;
  const double: ProvisioningDouble = {
    issued: new Map(),
    connections: [],
    rejectNextCreate: 0,
    close: () => rmSync(work, { recursive: true, force: true }),
  };
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: work, stdio: ["ignore", "pipe", "pipe"] }).toString();
  const sign = (csrFile: string, out: string) =>
    openssl("x509", "-req", "-in", csrFile, "-CA", join(options.pkiDir, "ca.pem"), "-CAkey", join(options.pkiDir, "ca.key"), "-CAcreateserial", "-CAserial", join(work, "ca.srl"), "-out", out, "-days", "30", "-sha256");

  aedes.authenticate = (client, _username, _password, done) => {
    const peer = (client.conn as unknown as TLSSocket).getPeerCertificate?.(false);
    const who = peer?.raw ? fingerprint(peer.raw) : "none";
    let admitted = false;
    if (who === claim) admitted = client.id.startsWith("claim-");
    else {
      const entry = double.issued.get(who);
      admitted = !!entry?.registered && entry.thing === client.id;
    }
    double.connections.push({ who: who === claim ? "claim" : who, clientId: client.id, admitted });
    if (admitted) done(null, true);
    else done(Object.assign(new Error("not authorized"), { returnCode: 5 }) as never, false);
  };

  const reply = (topic: string, body: unknown) =>
    aedes.publish({ cmd: "publish", topic, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false }, () => {});

  aedes.on("publish", (packet, client) => {
    if (!client) return;
    const topic = packet.topic;
    if (topic !== CREATE && topic !== CREATE_FROM_CSR && topic !== provision) return;
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(packet.payload.toString());
    } catch {
      reply(`${topic}/rejected`, { statusCode: 400, errorCode: "InvalidPayload", errorMessage: "not JSON" });
      return;
    }
    try {
      if (topic === CREATE || topic === CREATE_FROM_CSR) {
        if (double.rejectNextCreate > 0) {
          double.rejectNextCreate--;
          reply(`${topic}/rejected`, { statusCode: 503, errorCode: "ServiceUnavailable", errorMessage: "try again" });
          return;
        }
        const n = ++serial;
        const body: Record<string, string> = {};
        if (topic === CREATE) {
          openssl("genrsa", "-traditional", "-out", `k${n}.pem`, "2048");
          openssl("req", "-new", "-key", `k${n}.pem`, "-subj", `/CN=issued-${n}`, "-out", `r${n}.csr`);
          body.privateKey = readFileSync(join(work, `k${n}.pem`), "utf8");
        } else {
          writeFileSync(join(work, `r${n}.csr`), String(request.certificateSigningRequest));
        }
        writeFileSync(join(work, `c${n}.ext`), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
        sign(`r${n}.csr`, `c${n}.pem`);
        const certificatePem = readFileSync(join(work, `c${n}.pem`), "utf8");
        const id = fingerprint(certificatePem);
        const token = `token-${n}-${id.replaceAll(":", "").slice(0, 32)}`;
        double.issued.set(id, { token, registered: false });
        reply(`${topic}/accepted`, { certificateId: id.replaceAll(":", "").toLowerCase(), certificatePem, ...body, certificateOwnershipToken: token });
        return;
      }
      const parameters = request.parameters as Record<string, string> | undefined;
      const entry = [...double.issued.values()].find((e) => e.token === request.certificateOwnershipToken);
      if (!entry) return reply(`${topic}/rejected`, { statusCode: 400, errorCode: "InvalidCertificateOwnershipToken", errorMessage: "unknown token" });
      const thing = parameters?.ThingName;
      if (!thing || !options.things.includes(thing)) return reply(`${topic}/rejected`, { statusCode: 400, errorCode: "InvalidParameters", errorMessage: "ThingName" });
      entry.registered = true;
      entry.thing = thing;
      reply(`${topic}/accepted`, { deviceConfiguration: {}, thingName: thing });
    } catch (error) {
      reply(`${topic}/rejected`, { statusCode: 500, errorCode: "InternalFailure", errorMessage: String((error as Error).message).slice(0, 200) });
    }
  });
  return double;
}
