// Where an image download stands, pure: the image is fetched in fixed blocks, in order; a block
// counts only once it is written to the update slot and read back equal. Progress is the number of
// such blocks, persisted (src/ota/ota-record.ts) every few blocks, so a download cut by a
// disconnect or a power cut resumes at the last persisted block, not at zero. The requests are
// HTTP byte ranges or AWS IoT MQTT-based file delivery (stream) block requests.

export interface BlockRequest {
  index: number;
  offset: number;
  length: number;
}

export class DownloadTracker {
  readonly size: number;
  readonly blockSize: number;
  readonly blockCount: number;
  #next: number;

  constructor(size: number, blockSize: number, nextBlock = 0) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError("download: size must be a positive integer");
    if (!Number.isInteger(blockSize) || blockSize <= 0) throw new RangeError("download: bad block size");
    this.size = size;
    this.blockSize = blockSize;
    this.blockCount = Math.ceil(size / blockSize);
    if (!Number.isInteger(nextBlock) || nextBlock < 0 || nextBlock > this.blockCount) throw new RangeError(`download: cannot resume at block ${nextBlock} of ${this.blockCount}`);
    this.#next = nextBlock;
  }

  /** Blocks written and read back. */
  get nextBlock(): number {
    return this.#next;
  }

  get done(): boolean {
    return this.#next === this.blockCount;
  }

  get bytesDone(): number {
    return Math.min(this.size, this.#next * this.blockSize);
  }

  /** Whole percent of the image written. */
  get percent(): number {
    return Math.floor((this.bytesDone * 100) / this.size);
  }

  /** The next block to fetch, or undefined when every block is in. */
  next(): BlockRequest | undefined {
    if (this.done) return undefined;
    const offset = this.#next * this.blockSize;
    return { index: this.#next, offset, length: Math.min(this.blockSize, this.size - offset) };
  }

  /** Block index is written and verified. Only the expected block, in order. */
  completed(index: number): void {
    if (index !== this.#next) throw new RangeError(`download: block ${index} completed, expected ${this.#next}`);
    this.#next++;
  }
}

/** The HTTP Range header value for a block: "bytes=first-last" (inclusive). */
export function rangeHeader(request: BlockRequest): string {
  return `bytes=${request.offset}-${request.offset + request.length - 1}`;
}

/**
 * Checks an HTTP 206 answer's Content-Range ("bytes first-last/total") against the request and the
 * image size; undefined when it matches, else the reason.
 */
export function checkContentRange(value: string | undefined, request: BlockRequest, imageSize: number): string | undefined {
  const m = value === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (!m) return `bad Content-Range: ${value ?? "none"}`;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first !== request.offset || last !== request.offset + request.length - 1) return `server sent bytes ${first}-${last}, asked for ${rangeHeader(request).slice(6)}`;
  if (m[3] !== "*" && Number(m[3]) !== imageSize) return `size mismatch: the server has ${m[3]} bytes, the job says ${imageSize}`;
  return undefined;
}

/**
 * The topic and JSON request of AWS IoT MQTT-based file delivery (GetStream, JSON form): count
 * blocks of blockSize bytes from block request.index on.
 */
export function streamRequest(thing: string, streamId: string, fileId: number, request: BlockRequest, blockSize: number, clientToken: string, count = 1): { topic: string; payload: string } {
  return {
    topic: `$aws/things/${thing}/streams/${streamId}/get/json`,
    payload: JSON.stringify({ c: clientToken, f: fileId, l: blockSize, o: request.index, n: count }),
  };
}

/** The data topic to subscribe to for a stream (JSON form). */
export function streamDataTopic(thing: string, streamId: string): string {
  return `$aws/things/${thing}/streams/${streamId}/data/json`;
}

/** Where AWS answers a GetStream it refuses (JSON form). */
export function streamRejectedTopic(thing: string, streamId: string): string {
  return `$aws/things/${thing}/streams/${streamId}/rejected/json`;
}
