// embedded:io/socket/tcp/tls on Node (node:tls) with the options the SDK's TLS socket takes:
// DER CA certificate, DER client certificate, PKCS#8 DER client key, serverName for SNI, TLS 1.2.
// Each write costs a record's framing, as on the device, so callers must leave room for it.

import { checkServerIdentity, connect } from "node:tls";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { isIP } from "node:net";
import { HostSocketBase, HostStreamSocket, toBuffer, type StreamCallbacks } from "./stream-socket.ts";

type Der = ArrayBuffer | ArrayBufferView;

export interface TLSOptions extends StreamCallbacks<TLSSocket> {
  TCP: { io: unknown };
  address: string;
  port: number;
  host?: string;
  secure: {
    certificate?: Der;
    clientCertificates?: Der[];
    clientKey?: Der;
    serverName?: string;
    protocolVersion?: number;
    applicationLayerProtocolNegotiation?: string | string[];
  };
}

/** AES-GCM record: 5-byte header, 8-byte explicit nonce, 16-byte tag. The SDK's TLS socket reports
 * 96 bytes less than its TCP socket can take, and after a write, 32 less than what is left. */
const TLS_FRAMING = { record: 29, reported: 96, afterWrite: 32 };

function pemCertificate(der: Der, what: string): string {
  try {
    return new X509Certificate(toBuffer(der)).toString();
  } catch (error) {
    throw new Error(`${what} is not a DER certificate: ${(error as Error).message}`);
  }
}

/** The SDK's session takes one name or a list, each 1..255 bytes, and refuses anything else. */
function alpn(names: string | string[] | undefined): string[] | undefined {
  if (names === undefined) return undefined;
  const list = Array.isArray(names) ? names : [names];
  for (const name of list) if (typeof name !== "string" || name.length < 1 || name.length > 255) throw new Error("invalid protocol");
  return list;
}

export default class TLSSocket extends HostSocketBase {
  constructor(options: TLSOptions) {
    super();
    const secure = options.secure ?? {};
    if (secure.protocolVersion !== undefined && secure.protocolVersion !== 0x303) throw new RangeError("only TLS 1.2 (0x303) is supported");
    const serverName = secure.serverName ?? options.host;
    let key: string | undefined;
    if (secure.clientKey) {
      try {
        key = createPrivateKey({ key: toBuffer(secure.clientKey), format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" }) as string;
      } catch (error) {
        throw new Error(`client key is not PKCS#8 DER: ${(error as Error).message}`);
      }
    }
    const stream = connect({
      host: options.address,
      port: options.port,
      // SNI carries names only (RFC 6066); the certificate check below still uses an address.
      servername: serverName !== undefined && isIP(serverName) === 0 ? serverName : undefined,
      ca: secure.certificate ? [pemCertificate(secure.certificate, "CA certificate")] : undefined,
      cert: secure.clientCertificates?.map((c, i) => pemCertificate(c, `client certificate ${i}`)).join("\n"),
      key,
      ALPNProtocols: alpn(secure.applicationLayerProtocolNegotiation),
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.2",
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => checkServerIdentity(serverName ?? options.address, cert),
    });
    this.socket = new HostStreamSocket<TLSSocket>(this as TLSSocket, stream, "secureConnect", options, "tls", TLS_FRAMING) as HostStreamSocket<object>;
  }
}
