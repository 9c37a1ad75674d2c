// The SDK's ECMA-419 TLS socket (examples/io/tcp/tlssocket, SDK 8.2.3) as it really behaves. Neither
// npm @moddable/typings 5.6.0 nor the SDK's typings/ declare it under the specifier the SDK maps it
// to, and both miss its TCP option and count-less read().

declare module "embedded:io/socket/tcp/tls" {
  import type TCP from "embedded:io/socket/tcp";
  export interface SecureOptions {
    /** Trusted CA certificate, DER. */
    certificate?: ArrayBuffer | HostBuffer;
    /** Client certificate chain, DER. */
    clientCertificates?: (ArrayBuffer | HostBuffer)[];
    /** Client private key, PKCS#8 DER (RSA only). */
    clientKey?: ArrayBuffer | HostBuffer;
    /** SNI and certificate name check; defaults to host. */
    serverName?: string;
    protocolVersion?: number;
    /** ALPN protocol name(s) offered in the ClientHello (ssl/session turns it into the extension). */
    applicationLayerProtocolNegotiation?: string | string[];
  }
  export interface TLSOptions {
    /** The TCP socket class the TLS socket runs over. */
    TCP: { io: typeof TCP };
    address: string;
    port: number;
    host?: string;
    secure: SecureOptions;
    onReadable?: (this: TLSSocket, count: number) => void;
    onWritable?: (this: TLSSocket, count: number) => void;
    onError?: (this: TLSSocket) => void;
  }
  export default class TLSSocket {
    constructor(options: TLSOptions);
    /** The current record's data, or undefined when none is waiting. */
    read(): ArrayBuffer | undefined;
    /** One TLS record per call; returns the count left writable (NaN once the connection failed). */
    write(buffer: ArrayBuffer | ArrayBufferView): number;
    close(): void;
  }
}
