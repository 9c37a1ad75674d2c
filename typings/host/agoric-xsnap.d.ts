// The part of @agoric/xsnap (which ships no declarations) that the XS test harness uses.
declare module "@agoric/xsnap" {
  export interface XsnapOptions {
    os: string;
    spawn: typeof import("node:child_process").spawn;
    fs: unknown;
    name?: string;
    stdout?: "inherit" | "ignore";
    stderr?: "inherit" | "ignore";
    meteringLimit?: number;
    handleCommand?: (message: Uint8Array) => Promise<Uint8Array> | Uint8Array;
  }
  export interface Xsnap {
    evaluate(code: string): Promise<{ meterUsage: { compute: number; allocate: number; currentHeapCount: number } }>;
    close(): Promise<void>;
    terminate(): Promise<void>;
  }
  export function xsnap(options: XsnapOptions): Promise<Xsnap>;
}
