// JSON from the network, parsed only after its size, encoding and nesting were checked. XS parses
// JSON recursively on a stack of 384..512 slots: a 1 KB document of "[[[[..." must be refused before
// JSON.parse sees it, not after it aborted the machine. Pure: runs on XS unchanged.

import { utf8Decode } from "../util/utf8";

export interface JsonLimits {
  /** Largest payload in bytes. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays (a flat object is depth 1). */
  maxDepth: number;
}

export type JsonProblem = "too-large" | "not-utf8" | "too-deep" | "malformed";

export type BoundedJson = { ok: true; value: unknown } | { ok: false; problem: JsonProblem; message: string };

/**
 * Deepest nesting of [ and { outside strings, stopping as soon as it passes limit (so a long run of
 * brackets costs nothing more). Unbalanced input is left for JSON.parse to refuse.
 */
export function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

export function parseBoundedJson(payload: Uint8Array, limits: JsonLimits): BoundedJson {
  if (payload.length > limits.maxBytes) return { ok: false, problem: "too-large", message: `${payload.length} bytes, at most ${limits.maxBytes}` };
  let text: string;
  try {
    text = utf8Decode(payload);
  } catch (error) {
    return { ok: false, problem: "not-utf8", message: error instanceof Error ? error.message : String(error) };
  }
  if (nestingDepth(text, limits.maxDepth) > limits.maxDepth) return { ok: false, problem: "too-deep", message: `nested deeper than ${limits.maxDepth}` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, problem: "malformed", message: `not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
