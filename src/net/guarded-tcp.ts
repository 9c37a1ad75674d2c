// The SDK's TLS socket (examples/io/tcp/tlssocket) runs its handshake inside the TCP socket's
// callbacks, so a TLS alert from the broker or a certificate it rejects is thrown there, where
// nothing catches it: XS aborts, and an ESP32 restarts. This wraps the TCP class the TLS socket is
// given so that such an exception closes the connection and is reported through onError instead,
// and the session retries with backoff.

import Timer from "timer";

type Callback = ((count: number) => void) | undefined;

interface TCPLike {
  read(...args: unknown[]): unknown;
  write(...args: unknown[]): unknown;
  close(): void;
}

type TCPClass = new (options: any) => TCPLike;

export function guardedTCP(TCP: TCPClass, report: (line: string) => void): TCPClass {
  return class GuardedTCP implements TCPLike {
    #socket: TCPLike;
    #failed = false;
    // The TLS socket keeps its own bookkeeping (readable, writable) on the socket object it is given.
    [property: string]: unknown;

    constructor(options: { onReadable?: Callback; onWritable?: Callback; onError?: () => void } & Record<string, unknown>) {
      const fail = (error: unknown) => {
        if (this.#failed) return;
        this.#failed = true;
        report(`tls: ${error instanceof Error ? error.message : String(error)}`);
        // Not from inside the socket's own callback: the SDK throws if closed there.
        Timer.set(() => {
          try {
            this.#socket.close();
          } catch {
            // already closed
          }
          options.onError?.();
        }, 0);
      };
      const guard = (callback: Callback): Callback =>
        callback &&
        ((count: number) => {
          if (this.#failed) return;
          try {
            callback(count);
          } catch (error) {
            fail(error);
          }
        });
      this.#socket = new TCP({ ...options, onReadable: guard(options.onReadable), onWritable: guard(options.onWritable) });
    }

    read(...args: unknown[]): unknown {
      return this.#socket.read(...args);
    }

    write(...args: unknown[]): unknown {
      return this.#socket.write(...args);
    }

    close(): void {
      this.#socket.close();
    }
  };
}
